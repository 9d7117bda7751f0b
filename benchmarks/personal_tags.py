"""Personal tags on held-out personal worlds: instant and trained, against baselines, side by side.

    PYTHONPATH=. python benchmarks/personal_tags.py [--seeds 101 102 103] [--threads 1]

For each seed and scenario (one name; three names) it builds a world (tests/personal_world.py), a
library with the pretrained tiny model (tests/fixtures/pretrain_tiny.py), tags it, and prints the
mean AP of the names over the untagged photos:
  text only        the base model's text query, no adaptation
  prototype        cosine to the mean of the tagged photos' vectors
  linear probe     a probe fitted on tagged vs library vectors, no cross-fitting, no text
  instant          Viewfinder's search right after tagging (probe + text)
  plain fine-tune  `train --tune text` with the earlier defaults (last text blocks, lr 1e-4)
  trained          Viewfinder's search after `viewfinder train` with its defaults
and the generic-query mAP before and after, the pointing game of the name after training with and
without --token-loss, and whether rollback restored the results exactly.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]


def run(seed: int, names: list[str]) -> dict[str, float]:
    from fixtures.pretrain_tiny import pretrained_weights
    from personal_bench import build_library, generic_map, instant_measures, pointing_game
    from personal_world import make_concepts, personal_world

    from engine.config import ModelSpec
    from engine.encoder import Encoder
    from engine.library import Library
    from engine.search import Query
    from trainer import versions
    from trainer.train import TrainConfig, train

    encoder = Encoder.load(
        ModelSpec(str(ROOT / "tests/assets/tiny-clip.json"), str(pretrained_weights())), "cpu"
    )
    world = personal_world(make_concepts(names, seed), seed=seed)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        libraries: list[Library] = []

        def make() -> Library:
            libraries.append(Library(Path(tmp) / f"lib{len(libraries)}", encoder=encoder))
            return libraries[-1]

        wl = build_library(world, Path(tmp), make)
        query = Query(text="red circle", k=50)
        base_hits = [(h.path, h.score) for h in wl.library.search(query)]
        instant = instant_measures(wl)
        out.update({k: v for k, v in instant.items() if k != "search"})
        out["instant"] = instant["search"]
        out["generic mAP before"] = generic_map(wl)

        began = time.monotonic()
        plain = train(wl.library, TrainConfig(tune="text", steps=0, learning_rate=1e-4, force=True))
        out["plain fine-tune"] = instant_measures(wl)["text only"]
        out["plain fine-tune generic mAP"] = generic_map(wl)
        versions.rollback(wl.library)
        del plain

        began = time.monotonic()
        result = train(wl.library, TrainConfig())
        out["train seconds"] = time.monotonic() - began
        trained = instant_measures(wl)
        out["trained"] = trained["search"]
        out["trained text only"] = trained["text only"]
        out["generic mAP after"] = generic_map(wl)
        out["switched on"] = float(result.activated)
        out["gate AP before"], out["gate AP after"] = result.before.ap, result.after.ap
        out["pointing, no token loss"] = sum(pointing_game(wl, n) for n in names) / len(names)
        versions.rollback(wl.library)
        train(wl.library, TrainConfig(token_loss=True))
        out["pointing, token loss"] = sum(pointing_game(wl, n) for n in names) / len(names)
        versions.rollback(wl.library)
        out["rollback exact"] = float([(h.path, h.score) for h in wl.library.search(query)] == base_hits)
        for library in libraries:
            library.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rows: dict[str, list[float]] = {}
    for names in (["rex"], ["rex", "zorp", "mibble"]):
        for seed in args.seeds:
            result = run(seed, names)
            label = f"{len(names)} name(s), seed {seed}"
            print(label + ": " + ", ".join(f"{k} {v:.3f}" for k, v in result.items()), flush=True)
            for k, v in result.items():
                rows.setdefault(f"{len(names)} name(s): {k}", []).append(v)
    print("\nmeans over seeds (the machine is shared and loaded: seconds are indicative only)")
    for k, values in rows.items():
        print(f"  {k:45s} {sum(values) / len(values):.3f}  ({', '.join(f'{v:.3f}' for v in values)})")


if __name__ == "__main__":
    main()
