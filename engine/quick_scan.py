"""A first pass over the photo vectors at a quarter of the memory traffic: an int8 copy, scanned
through OpenVINO, with a bound on each photo's error.

Scoring 100k x 512 float32 vectors with numpy reads 200 MB per query and is memory bound (about 10
ms on a quiet 2-core box, 25 ms beside other work); numpy has no fast int8 or float16 product. The
copy keeps each row as int8 with its own scale (a quarter of the bytes), and OpenVINO's CPU plugin
runs the product with its compressed-weight kernels (measured here at 100k: 2.7-4 ms against numpy's
10-24 ms in the same runs). Its answer is not exact, so it only says where exactness matters:
every photo's true score lies within `bound` of the quick one (the row's quantisation error times
the query's length, by Cauchy-Schwarz, plus room for float rounding), and search re-scores in
float32 the photos whose place in the results the bound leaves open (engine/calibration.py
`Calibrator.screen`). The activations are not quantised (OpenVINO's dynamic quantisation off),
so the bound holds.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from .int8 import dequantised, quantise

log = logging.getLogger(__name__)

# Tables with fewer rows are scored in float32 (a few ms at most): building the copy costs more.
QUICK_MIN = 32_768
# Room for float rounding in the product (float32 sums of 512 terms err by far less).
ROUNDING = 1e-4
_CHUNK = 16_384  # rows quantised at a time (bounded temporaries)


class QuickScan:
    """The int8 copy of one (N, D) matrix of unit rows and its compiled product. Thread-safe."""

    def __init__(self, matrix: np.ndarray):
        import openvino as ov
        from openvino import opset13 as ops

        n, dim = matrix.shape
        self._codes = np.empty((n, dim), np.int8)
        self._scale = np.empty(n, np.float32)
        self._error = np.empty(n, np.float32)
        for start in range(0, n, _CHUNK):
            part = matrix[start : start + _CHUNK]
            codes, scale = quantise(part, axis=1)
            self._codes[start : start + len(part)] = codes
            self._scale[start : start + len(part)] = scale[:, 0]
            self._error[start : start + len(part)] = np.linalg.norm(part - codes * scale, axis=1)
        self._error += ROUNDING
        query = ops.parameter([1, dim], ov.Type.f32)
        weights = dequantised(self._codes, self._scale.reshape(n, 1), shared=True)
        graph = ov.Model([ops.matmul(query, weights, False, True).output(0)], [query])
        config: dict[str, Any] = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
            "DYNAMIC_QUANTIZATION_GROUP_SIZE": 0,  # the query stays float32: the bound holds
        }
        self._request = ov.Core().compile_model(graph, "CPU", config).create_infer_request()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._scale)

    def scores(self, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(quick, bound): (N,) float32 dot products of every row with `vector`, and how far each
        may lie from the exact float32 product at most."""
        x = np.ascontiguousarray(vector, np.float32).reshape(1, -1)
        with self._lock:
            self._request.infer([x])
            quick = np.array(self._request.get_output_tensor(0).data, np.float32).reshape(-1)
        length = float(np.linalg.norm(x))
        return quick, self._error * np.float32(length)


def build(matrix: np.ndarray) -> QuickScan | None:
    """A QuickScan of `matrix`, or None when it is too small to gain from one or OpenVINO cannot
    build it (search then scores in float32)."""
    if len(matrix) < QUICK_MIN:
        return None
    try:
        return QuickScan(matrix)
    except Exception as e:  # no OpenVINO, or its CPU plugin refuses: the float32 scan answers
        log.info("no quick scan (%s): float32 scan", e)
        return None
