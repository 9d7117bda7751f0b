"""Training a model at random init on captioned scenes with object boxes, against a plain fine-tune.

    PYTHONPATH=. python benchmarks/captioned_training.py [--seeds 1 2 3] [--scenes 300] [--tagged 200]
        [--epochs 30] [--threads 2] [--model tests/assets/tiny-clip.json]

For each seed, a library of synthetic scenes of one or two coloured shapes (tests/captioned.py);
the first --tagged are tagged with their captions ("red circle and blue square") and a box for each
object; the rest are held out. The model is --model at random init. It prints, on the held-out
scenes, the mAP of ranking them by caption, recall@10 of 30 of them for their own caption, and the
pointing game of the objects' colour words, and the mAP of the order the product's search (tags
included) puts them in, for:
  base                the model at random init
  plain fine-tune     every weight learns the tagged captions: SigLIP loss, AdamW 3e-4, batch 32
  train               `viewfinder train --loss sigmoid --token-loss --tune full --epochs N`, then
                      `viewfinder index` (what the user runs), and the gate's decision
  train, no token loss  the same without --token-loss
  train at 1e-5, forced  the same with --lr 1e-5 (the rate for fine-tuning a pretrained model, and
                      the default here before) and --force (the gate does not switch it on)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

RUNS: dict[str, dict[str, Any]] = {
    "train": {},
    "train, no token loss": {"token_loss": False},
    "train at 1e-5, forced": {"learning_rate": 1e-5, "force": True},
}


def run(seed: int, args: argparse.Namespace) -> dict[str, tuple[float, ...]]:
    from captioned import captioned_library, encoder_retrieval, objects, plain_fine_tune, pointing, search_map

    from engine.config import ModelSpec
    from engine.encoder import Encoder
    from engine.library import Library
    from trainer.train import DECISIONS, TrainConfig, train

    encoder = Encoder.load(ModelSpec(args.model, None), "cpu")
    out: dict[str, tuple[float, ...]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        for name, change in [("base", None), ("plain fine-tune", None), *RUNS.items()]:
            library = Library(Path(tmp) / name, encoder=encoder)
            world = captioned_library(folder, library, args.scenes, args.tagged, seed)
            held = world.held_out
            began = time.monotonic()
            if name == "plain fine-tune":
                nan = float("nan")
                out[name] = (*plain_fine_tune(encoder, world.taught, held, args.epochs), nan, nan, -1)
                library.close()
                continue
            decision = -1
            if change is not None:
                config = TrainConfig(**{"tune": "full", "token_loss": True, "epochs": args.epochs, **change})
                result = train(library, config)
                decision = DECISIONS.index(result.verdict.decision) if result.verdict else -1
                library.index()
            tuned = library.encoder()
            mean_ap, recall = encoder_retrieval(tuned, held)
            out[name] = (mean_ap, recall, pointing(tuned, objects(held)), search_map(world), decision)
            print(f"  seed {seed} {name}: {time.monotonic() - began:.0f} s", file=sys.stderr)
            library.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--scenes", type=int, default=300)
    parser.add_argument("--tagged", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default=str(ROOT / "tests" / "assets" / "tiny-clip.json"))
    args = parser.parse_args()
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch

    from trainer.train import DECISIONS

    torch.set_num_threads(args.threads)
    results = [run(seed, args) for seed in args.seeds]
    print(f"{'':23} {'mAP':>6} {'R@10':>6} {'point':>6} {'search':>6}  the gate's decisions")
    for name in results[0]:
        rows = np.array([r[name][:4] for r in results])
        decisions = ", ".join(DECISIONS[int(r[name][4])] for r in results if r[name][4] >= 0)
        mean = rows.mean(axis=0)
        point, search = ("" if np.isnan(v) else f"{v:.3f}" for v in mean[2:4])
        print(f"{name:23} {mean[0]:6.3f} {mean[1]:6.3f} {point:>6} {search:>6}  {decisions}")
        per_seed = "  ".join(f"{s}: {r[0]:.3f}/{r[1]:.2f}" for s, r in zip(args.seeds, rows, strict=True))
        print(f"{'':23} {per_seed}")


if __name__ == "__main__":
    main()
