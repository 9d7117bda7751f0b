"""Short text queries: truncated causal encoding (up to end-of-text) vs the full 77-token context.

Run: .venv/bin/python benchmarks/text_encode.py [--model ViT-B-32] [--repeats 20]
Prints ms per query (batch of one, as in interactive search) for both paths and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engine.config import ModelSpec  # noqa: E402
from engine.encoder import Encoder  # noqa: E402

QUERIES = [
    "a dog on the beach",
    "sunset over the mountains",
    "birthday cake with candles",
    "my red bicycle",
    "two children playing in the snow",
    "a cat sleeping on a sofa",
]


def _time_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    encoder = Encoder.load(ModelSpec(args.model, None), "cpu")
    print(f"model {args.model} (random init), torch threads {torch.get_num_threads()}")

    def full(query: str) -> np.ndarray:
        with torch.inference_mode():
            ids = encoder.tokenize([query])
            return torch.nn.functional.normalize(encoder.model.encode_text(ids), dim=-1).numpy()

    truncated_ms, full_ms, diffs, lengths = [], [], [], []
    for query in QUERIES:
        lengths.append(int(encoder.tokenize([query]).argmax()) + 1)
        truncated_ms.append(_time_ms(lambda q=query: encoder.encode_texts([q]), args.repeats))
        full_ms.append(_time_ms(lambda q=query: full(q), args.repeats))
        diffs.append(float(np.abs(encoder.encode_texts([query]) - full(query)).max()))
    t, f = statistics.mean(truncated_ms), statistics.mean(full_ms)
    print(f"queries: {len(QUERIES)}, tokens incl. start/end: {min(lengths)}-{max(lengths)}")
    print(f"truncated: {t:.1f} ms/query   full 77 tokens: {f:.1f} ms/query   speed-up x{f / t:.2f}")
    print(f"max |difference| of the vectors: {max(diffs):.2e}")


if __name__ == "__main__":
    main()
