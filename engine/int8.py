"""Symmetric int8 weights with one float32 scale per row or column, and the OpenVINO graph node
that multiplies them back: the text graph's int8 token table (engine/runtime.py) and the int8 copy of
the photo vectors (engine/quick_scan.py) are both made this way."""

from __future__ import annotations

from typing import Any

import numpy as np


def quantise(weights: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(codes, scale): int8 codes and the float32 scale, max |w| / 127, taken over `axis` (kept as
    a length-1 axis), so that codes * scale ~ weights."""
    scale = (np.maximum(np.abs(weights).max(axis=axis, keepdims=True), 1e-30) / 127.0).astype(np.float32)
    return np.rint(weights / scale).astype(np.int8), scale


def dequantised(codes: np.ndarray, scale: np.ndarray, shared: bool = False) -> Any:
    """An OpenVINO node of codes * scale in float32 (shared: the constants use the arrays' memory,
    which must then outlive the graph). OpenVINO's CPU plugin runs a MatMul on it with its
    compressed-weight kernels, reading the int8 codes."""
    import openvino as ov
    from openvino import opset13 as ops

    return ops.multiply(
        ops.convert(ops.constant(codes, shared_memory=shared), ov.Type.f32),
        ops.constant(scale, shared_memory=shared),
    )
