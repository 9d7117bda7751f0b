"""A text query right after numpy's work, with OpenBLAS's threads left spinning and sent to sleep.

    python benchmarks/blas_spin.py [--model ViT-B-32]

numpy's OpenBLAS keeps its threads spinning for a while after a large product; OpenVINO's threads
then share the cores with them. Times one text query of the model's runtime graph (random init)
after a 100k x 512 float32 product and a pause, in two processes side by side: OpenBLAS as it
comes (OPENBLAS_THREAD_TIMEOUT unset) and as the engine sets it (its threads sleep at once).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import statistics, sys, time
import numpy as np
from engine.config import ModelSpec
from engine.encoder import Encoder

encoder = Encoder.load(ModelSpec(sys.argv[1], None), "cpu")
matrix = np.random.default_rng(0).normal(size=(100_000, 512)).astype(np.float32)
for pause in (0.0, 0.005, 0.02, 0.1):
    times = []
    for _ in range(30):
        matrix @ matrix[0]
        time.sleep(pause)
        start = time.perf_counter()
        encoder.encode_texts(["a dog on the beach"])
        times.append(time.perf_counter() - start)
    print(f"  {pause * 1000:5.0f} ms after the product: text query p50 {statistics.median(times) * 1000:5.1f} ms")
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="ViT-B-32")
    args = parser.parse_args()
    for label, timeout in (
        ("OpenBLAS as it comes", None),
        ("OpenBLAS threads sleep at once (the engine's setting)", "4"),
    ):
        # The child imports numpy before the engine, so OpenBLAS starts with this environment.
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
        if timeout:
            env["OPENBLAS_THREAD_TIMEOUT"] = timeout
        print(label)
        subprocess.run(
            [sys.executable, "-c", CHILD, args.model], env={**env, "PYTHONPATH": str(ROOT)}, check=True
        )


if __name__ == "__main__":
    main()
