"""Viewfinder's engine: indexing, search, tags and models, with no Qt."""

import os
import sys

# OpenVINO's model converter reports its use to Google Analytics unless the user has opted out, from
# a process it forks per event. Viewfinder sends nothing anywhere; and a fork from a process with
# other threads can hang (it held the test suite at exit). Without the telemetry package, OpenVINO
# falls back to its own no-op stand-in, so the package is kept from loading.
sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]

# numpy's OpenBLAS keeps its threads spinning for about 0.1 s after each large product. OpenVINO's
# threads, which run the text query and the quick scan on the same cores, then wait for them: on
# 2 cores a text query 20 ms after a product took 16.8 ms instead of 8.3 ms
# (benchmarks/blas_spin.py). Its threads go to sleep at once instead. OpenBLAS reads this when numpy
# is first imported, which the engine's modules do after this.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
