"""Inference runtimes side by side on this CPU: eager torch, ONNX Runtime and OpenVINO (fp32, bf16,
int8 weights when NNCF is installed), for the image tower (batch 32) and one text query.

The text-only rows compare the text graphs' choices. "OpenVINO fp32" runs the text graph with int8
weights (token table and layers, weight-only: the default at fp32); beside it, the same graph with
float32 weights. "OpenVINO bf16" runs it with its token table in int8 (the default at bf16); beside
it, the table in float32, and int8 layer weights with and without the activations quantised to
int8 as the graph runs (OpenVINO's dynamic quantisation, which only the opt-in int8 precision
allows: no published CLIP measurement covers it).

    python benchmarks/runtime_compare.py [--model ViT-B-32] [--rounds 3]

Random init (same cost as pretrained). Rounds alternate between the runtimes so that a loaded
machine slows them alike; the ratios to torch are the figures to read. ONNX Runtime rows need the
onnxruntime and onnx packages (not dependencies of Viewfinder).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.scratch import scratch_folder  # noqa: E402
from benchmarks.timing import repeat_times  # noqa: E402
from engine import forward, runtime  # noqa: E402
from engine.config import ModelSpec  # noqa: E402
from engine.encoder import Encoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    cache = scratch_folder("vf-runtime-bench-")
    import os

    os.environ["VIEWFINDER_CACHE"] = str(cache)
    encoder = Encoder.load(ModelSpec(args.model, None), "cpu", precision="torch")
    model = encoder.model
    pixels = np.random.default_rng(0).normal(size=(32, 3, *encoder.image_size)).astype(np.float32)
    query = ["a red car parked in front of an old stone house"]
    ids = encoder.tokenize(query)
    positions = forward.pool_positions(model, ids).numpy()
    cut = runtime.cut_ids(ids.numpy(), positions)
    with torch.inference_mode():
        reference_image = forward.image_vectors(model, torch.from_numpy(pixels)).numpy()
        reference_text = forward.text_vectors(model, ids).numpy()

    runs: dict[str, tuple] = {}

    def torch_image():
        with torch.inference_mode():
            return forward.image_vectors(model, torch.from_numpy(pixels)).numpy()

    def torch_text():
        with torch.inference_mode():
            return forward.text_vectors(model, ids).numpy()

    runs["torch eager fp32"] = (torch_image, torch_text)
    folder = runtime.graph_dir(cache, encoder.spec.cache_key)
    precisions = ["fp32", "bf16"] + (["int8"] if _has("nncf") else [])
    for precision in precisions:
        towers = runtime.export(model, folder, precision, encoder.image_size, encoder.tokenize)
        if towers is None:  # failed its check: measure it anyway, the verdict is printed below
            towers = runtime.Towers(folder, precision, runtime._read_meta(folder) or {"text": True})
        runs[f"OpenVINO {precision}"] = (
            lambda t=towers: t.encode_images(pixels),
            lambda t=towers: t.encode_ids(cut, positions),
        )
    import openvino as ov

    int8_weights = runtime._compress_text(ov, folder, "fp32")
    variants = (
        ("fp32, float32 weights", "fp32", "text.xml", 0),
        ("bf16, float32 table", "bf16", "text.xml", 0),
        ("bf16, int8 weights", "bf16", int8_weights, 0),
        ("bf16, int8 w+act", "bf16", int8_weights, 32),
    )
    for name, precision, graph, group in variants:
        config = runtime._text_config(folder, runtime._precision_config(precision))
        config["DYNAMIC_QUANTIZATION_GROUP_SIZE"] = group
        compiled = ov.Core().compile_model(str(folder / graph), "CPU", config)
        runs[f"OpenVINO text: {name}"] = (None, lambda c=compiled: runtime._infer(c, [cut, positions]))
    if _has("onnxruntime") and _has("onnx"):
        import onnxruntime as ort

        path = cache / "image.onnx"
        with torch.enable_grad():  # no_grad would take torch's fused attention, which ONNX lacks
            torch.onnx.export(
                forward.ImageGraph(model),
                (torch.from_numpy(pixels[:2]),),
                str(path),
                dynamo=False,
                input_names=["pixels"],
                dynamic_axes={"pixels": {0: "n"}},
            )
            tpath = cache / "text.onnx"
            torch.onnx.export(
                forward.TextGraph(model),
                (torch.from_numpy(cut), torch.from_numpy(positions)),
                str(tpath),
                dynamo=False,
                input_names=["ids", "positions"],
                dynamic_axes={"ids": {0: "n", 1: "l"}, "positions": {0: "n"}},
            )
        image_session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        text_session = ort.InferenceSession(str(tpath), providers=["CPUExecutionProvider"])
        runs["ONNX Runtime fp32"] = (
            lambda: image_session.run(None, {"pixels": pixels})[0],
            lambda: text_session.run(None, {"ids": cut, "positions": positions})[0],
        )

    image_s: dict[str, list[float]] = {name: [] for name in runs}
    text_s: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (image_fn, text_fn) in runs.items():
            image_s[name].append(statistics.median(repeat_times(image_fn, 1)) if image_fn else float("nan"))
            text_s[name].append(statistics.median(repeat_times(text_fn, 9)))
    base_image = statistics.median(image_s["torch eager fp32"])
    base_text = statistics.median(text_s["torch eager fp32"])
    print(f"{args.model}, {torch.get_num_threads()} threads, {args.rounds} interleaved rounds")
    print(
        f"{'runtime':28} {'img/s':>7} {'x torch':>8} {'text ms':>8} {'x torch':>8} {'min cos img':>12} {'min cos text':>12}"
    )
    for name, (image_fn, text_fn) in runs.items():
        img = statistics.median(image_s[name])
        txt = statistics.median(text_s[name])
        cos_i = _min_cos(np.asarray(image_fn()), reference_image) if image_fn else float("nan")
        cos_t = _min_cos(np.asarray(text_fn()), reference_text)
        print(
            f"{name:28} {32 / img:7.1f} {base_image / img:8.2f} {1000 * txt:8.1f} {base_text / txt:8.2f}"
            f" {cos_i:12.6f} {cos_t:12.6f}"
        )


def _min_cos(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


if __name__ == "__main__":
    main()
