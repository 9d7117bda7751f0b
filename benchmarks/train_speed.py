"""Default fine-tuning (text side, sigmoid loss, 10 epochs) on 200 tagged photos.

Run: .venv/bin/python benchmarks/train_speed.py [--model ViT-B-32] [--photos 200] [--token-loss]
Builds a library of synthetic scenes (random-init weights: ModelSpec(model, None)), tags every
photo with one of 10 texts, then times `trainer.train.train`. Target: at most 120 s on 2 CPU cores.
Indexing time is printed separately (it is not part of training).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402
from synthetic import COLOURS, SHAPES, make_scene  # noqa: E402

from engine.config import ModelSpec  # noqa: E402
from engine.library import Library  # noqa: E402
from engine.tags import Highlight, add_tag  # noqa: E402
from trainer.train import TrainConfig, train  # noqa: E402

TARGET_SECONDS = 120.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--token-loss", action="store_true")
    args = parser.parse_args()

    texts = [f"{c} {s}" for c in COLOURS for s in SHAPES][:10]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp, "photos")
        folder.mkdir()
        for i in range(args.photos):
            colour, shape = texts[i % len(texts)].split()
            side = int(rng.integers(60, 120))
            x, y = (int(v) for v in rng.integers(0, 224 - side, size=2))
            scene = make_scene(rng, [(colour, shape, (x, y, x + side, y + side))], size=224)
            scene.image.save(folder / f"p{i:04d}.jpg", quality=90)
        library = Library(Path(tmp, "library"), model=ModelSpec(args.model, None), device="cpu")
        library.add_folders([folder])
        start = time.perf_counter()
        library.index()
        indexed = time.perf_counter() - start
        for i, path in enumerate(sorted(folder.iterdir())):
            text = texts[i % len(texts)]
            colour = text.split()[0]
            add_tag(library.store, path, text, [Highlight(colour, (0.25, 0.25, 0.75, 0.75))])
        config = TrainConfig(epochs=args.epochs, token_loss=args.token_loss)
        start = time.perf_counter()
        result = train(library, config)
        seconds = time.perf_counter() - start
        library.close()
    print(f"model {args.model} (random init), {args.photos} tagged photos, {len(texts)} tags")
    print(f"indexing: {indexed:.1f} s (not part of training)")
    print(
        f"training ({config.tune}, {config.loss}{', token loss' if config.token_loss else ''}, "
        f"{config.epochs} epochs, {result.steps} steps): {seconds:.1f} s"
        f"  -> {seconds / TARGET_SECONDS:.2f} of the {TARGET_SECONDS:.0f} s budget"
    )
    print(
        f"held-out recall@{result.after.k}: {result.before.recall_at_k:.2f} -> {result.after.recall_at_k:.2f}"
    )


if __name__ == "__main__":
    main()
