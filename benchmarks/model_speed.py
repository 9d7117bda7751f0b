"""Speed of the candidate models on this CPU through Viewfinder's runtime, side by side in one run.

    .venv/bin/python benchmarks/model_speed.py [--models ViT-B-32 MobileCLIP2-S0 ...] [--rounds 3]

For each model: the image tower's photos/s on batches of 32 preprocessed photos, and one text
query's latency (p50, ms), both through the OpenVINO runtime at the default precision (bf16 where
the CPU has it), exported and checked against torch as the app does. Random init: the same cost as
the published weights. SigLIP2's tokenizer comes from Hugging Face and is not fetched here: its
queries are token ids of the same length made here (its text tower always reads all 64 positions).
Rounds alternate between the models so that a loaded machine slows them alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.scratch import private_cache  # noqa: E402
from benchmarks.timing import repeat_times  # noqa: E402
from engine.config import ModelSpec  # noqa: E402
from engine.encoder import Encoder  # noqa: E402

MODELS = ["ViT-B-32", "ViT-B-32-256", "MobileCLIP2-S0", "MobileCLIP2-S2", "ViT-B-32-SigLIP2-256"]
QUERY = "two children playing football on a beach at sunset"


def _made_ids(context: int):
    """Token ids for a tokenizer that cannot be had offline: one id per word, then end-of-text."""

    def tokenize(texts: list[str]) -> torch.Tensor:
        ids = torch.ones(len(texts), context, dtype=torch.long)
        for row, text in enumerate(texts):
            words = [3 + sum(map(ord, w)) % 1000 for w in text.split()][: context - 1]
            ids[row, : len(words)] = torch.tensor(words)
            ids[row, len(words)] = 2
        return ids

    return tokenize


def load(name: str) -> Encoder:
    import open_clip

    text_cfg = (open_clip.get_model_config(name) or {}).get("text_cfg", {})
    tokenizer = (
        _made_ids(int(text_cfg.get("context_length", 77))) if text_cfg.get("hf_tokenizer_name") else None
    )
    return Encoder.load(ModelSpec(name, None), "cpu", tokenizer=tokenizer)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", nargs="+", default=MODELS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    private_cache("viewfinder-model-speed-")
    print(f"load at the start: {os.getloadavg()[0]:.1f}")
    encoders = {name: load(name) for name in args.models}
    batches = {
        name: np.random.default_rng(0).normal(size=(32, 3, *e.image_size)).astype(np.float32)
        for name, e in encoders.items()
    }
    images: dict[str, list[float]] = {name: [] for name in encoders}
    texts: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(args.rounds):
        for name, encoder in encoders.items():
            images[name] += [32 / t for t in repeat_times(lambda e=encoder, b=batches[name]: e.encode_images(b), 2)]
            texts[name] += [1000 * t for t in repeat_times(lambda e=encoder: e.encode_texts([QUERY]), 10)]
    print(f"{'model':24} {'runtime':14} {'input':>7} {'photos/s':>9} {'text ms':>8}")
    for name, encoder in encoders.items():
        runtime = f"OpenVINO {encoder.towers.precision}" if encoder.towers else "torch"
        text_runtime = "" if encoder.towers is not None and encoder.towers.has_text else " (torch text)"
        size = f"{encoder.image_size[0]}px"
        print(
            f"{name:24} {runtime:14} {size:>7} {statistics.median(images[name]):9.1f}"
            f" {statistics.median(texts[name]):8.1f}{text_runtime}"
        )
    print(f"load at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
