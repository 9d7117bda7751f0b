"""The OpenVINO runtime: exported once, faithful to torch, cached with its verdict, loaded without torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import runtime
from engine.config import ModelSpec, default_cache_dir
from engine.encoder import Encoder

pytest.importorskip("openvino")

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["a dog", "a red car parked in front of an old stone house with a blue door", "snow", ""]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("VIEWFINDER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _pixels(encoder: Encoder, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    images = [Image.fromarray(rng.integers(0, 255, (50 + 10 * i, 70, 3), dtype=np.uint8)) for i in range(5)]
    return np.stack([encoder.preprocess_array(im) for im in images])


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_runtime_vectors_match_torch(cache, tiny_config, precision):
    if precision == "bf16" and not runtime.native_bf16():
        pytest.skip("this CPU has no native bf16")
    spec = ModelSpec(str(tiny_config), None)
    fast = Encoder.load(spec, "cpu", precision=precision)
    slow = Encoder.load(spec, "cpu", precision="torch")
    assert fast.towers is not None and fast.towers.has_text and slow.towers is None
    for seed in (1, 2):
        pixels = _pixels(slow, seed)
        cos = (fast.encode_images(pixels) * slow.encode_images(pixels)).sum(axis=1)
        assert cos.min() >= runtime.MIN_COSINE
    # texts of different lengths: the graph's sequence length is dynamic
    cos = (fast.encode_texts(TEXTS) * slow.encode_texts(TEXTS)).sum(axis=1)
    assert cos.min() >= runtime.MIN_COSINE
    np.testing.assert_allclose(np.linalg.norm(fast.encode_texts(TEXTS), axis=1), 1.0, atol=1e-3)
    # a different model (another text) gives different vectors: the check above is not vacuous
    assert (fast.encode_texts(["snow"]) @ slow.encode_texts(["a dog"]).T).item() < 0.999
    folder = runtime.graph_dir(default_cache_dir(), spec.cache_key)
    meta = json.loads((folder / "meta.json").read_text())
    verdict = runtime.Verdict(**meta["verdicts"][precision])
    assert verdict.ok
    # The texts above went through the precision's smaller text graph: it passed the same check,
    # and its weights are int8 indeed: the token table, and at fp32 the layers' weight matrices.
    assert verdict.small_text_cosine is not None and verdict.small_text_cosine >= runtime.MIN_COSINE
    import openvino as ov

    graph = ov.Core().read_model(str(folder / runtime.SMALL_TEXT[precision]))
    int8 = [list(op.get_output_shape(0)) for op in graph.get_ordered_ops() if op.get_element_type() == ov.Type.i8]
    table = list(fast.model.token_embedding.weight.shape)
    assert table in int8
    layers = [shape for shape in int8 if shape != table]
    assert len(layers) >= 4 * len(fast.model.transformer.resblocks) if precision == "fp32" else not layers


def test_ids_are_cut_to_a_few_lengths_and_the_padding_changes_nothing(cache, tiny_config):
    """Causal towers get ids cut at one of a few lengths (OpenVINO prepares its graph again for
    every new input shape); what lies after the end-of-text token cannot change the vector."""
    ids = np.zeros((2, 77), np.int64)
    assert [runtime.cut_ids(ids, np.array([p, 0])).shape[1] for p in (0, 7, 8, 20, 31, 32, 60)] == [8, 8, 16, 32, 32, 77, 77]
    encoder = Encoder.load(ModelSpec(str(tiny_config), None), "cpu", precision="fp32")
    assert encoder.towers is not None and encoder.towers.causal
    full = encoder.tokenize(TEXTS[:3]).numpy()
    positions = full.argmax(axis=1)
    exact = np.ascontiguousarray(full[:, : positions.max() + 1])  # 17 tokens: cut_ids pads to 32
    assert runtime.cut_ids(full, positions).shape[1] > exact.shape[1]
    np.testing.assert_allclose(
        encoder.towers.encode_ids(runtime.cut_ids(full, positions), positions),
        encoder.towers.encode_ids(exact, positions),
        atol=1e-6,
    )


def test_openblas_threads_sleep_at_once_in_the_command_line():
    """numpy's OpenBLAS reads its thread timeout when numpy first loads: the engine sets it before
    then, on the command line's import path (benchmarks/blas_spin.py measures why)."""
    probe = (
        "import os, sys\n"
        "os.environ.pop('OPENBLAS_THREAD_TIMEOUT', None)\n"
        "import app.cli, engine.library\n"
        "order = list(sys.modules)\n"
        "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'), order.index('engine') < order.index('numpy'))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["4", "True"]


@pytest.mark.parametrize("precision", ["fp32", "bf16", "int8"])
def test_activations_are_quantised_only_at_int8(precision):
    """OpenVINO quantises the activations of int8-weight layers as they run unless told not to, on
    CPUs with int8 dot products (VNNI, AMX; on one with AVX2 alone it does not). Published CLIP
    measurements cover int8 weights only, so only the opt-in int8 precision allows it."""
    import openvino as ov
    from openvino import opset13 as ops

    from engine.int8 import dequantised, quantise

    rng = np.random.default_rng(0)
    weights = rng.normal(size=(256, 256)).astype(np.float32)
    # One large activation per row: quantised in groups, the small ones beside it lose precision.
    x = rng.normal(size=(4, 256)).astype(np.float32)
    x[:, ::32] *= 300
    query = ops.parameter([4, 256], ov.Type.f32)
    graph = ov.Model([ops.matmul(query, dequantised(*quantise(weights, 1)), False, True).output(0)], [query])
    config = {**runtime._precision_config(precision), "INFERENCE_PRECISION_HINT": "f32"}
    got = ov.Core().compile_model(graph, "CPU", config).create_infer_request().infer([x])[0]
    codes, scale = quantise(weights, 1)
    exact = x @ (codes * scale).T  # the int8 weights in float32: only the activations may differ
    error = float(np.abs(got - exact).max() / np.abs(exact).max())
    if precision == "int8" and _int8_dot_products():
        assert error > 1e-4
    else:
        assert error < 1e-5


def _int8_dot_products() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    flags = set(cpuinfo.read_text().split()) if cpuinfo.exists() else set()
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


def test_cached_graphs_load_without_torch(cache, tiny_config):
    spec = ModelSpec(str(tiny_config), None)
    encoder = Encoder.load(spec, "cpu", precision="fp32")
    pixels = _pixels(encoder, 3)
    want = encoder.encode_images(pixels)
    folder = runtime.graph_dir(default_cache_dir(), spec.cache_key)
    np.save(cache / "pixels.npy", pixels)
    probe = (
        "import sys, numpy as np\n"
        "from engine import runtime\n"
        f"towers = runtime.load(__import__('pathlib').Path({str(folder)!r}), 'fp32')\n"
        f"np.save({str(cache / 'got.npy')!r}, towers.encode_images(np.load({str(cache / 'pixels.npy')!r})))\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    np.testing.assert_allclose(np.load(cache / "got.npy"), want, atol=1e-5)


def test_failed_check_keeps_torch(cache, tiny_config, caplog):
    spec = ModelSpec(str(tiny_config), None)
    Encoder.load(spec, "cpu", precision="fp32")
    meta_path = runtime.graph_dir(default_cache_dir(), spec.cache_key) / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["verdicts"]["fp32"]["image_cosine"] = 0.9  # as if the graph had drifted from torch
    meta_path.write_text(json.dumps(meta))
    with caplog.at_level("INFO", logger="engine.encoder"):
        encoder = Encoder.load(spec, "cpu", precision="fp32")
    assert encoder.towers is None
    assert "using torch" in caplog.text


def test_graphs_of_an_older_format_are_exported_again(cache, tiny_config):
    """A cache from an earlier version (another format) holds graphs that compute something else
    (before format 5 the image graph had no patch grid output): they are made again, not reused."""
    spec = ModelSpec(str(tiny_config), None)
    Encoder.load(spec, "cpu", precision="fp32")
    folder = runtime.graph_dir(default_cache_dir(), spec.cache_key)
    meta = json.loads((folder / "meta.json").read_text())
    meta["format"] -= 1
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "image.xml").write_text("<net>an older graph</net>")
    encoder = Encoder.load(spec, "cpu", precision="fp32")
    assert encoder.towers is not None  # exported again and checked, not torch
    verdict = runtime.cached_verdict(folder, "fp32")
    assert verdict is not None and verdict.ok and verdict.image_cosine >= runtime.MIN_COSINE
    pixels = _pixels(encoder, 4)
    torch_vectors = Encoder.load(spec, "cpu", precision="torch").encode_images(pixels)
    assert (encoder.encode_images(pixels) * torch_vectors).sum(axis=1).min() >= runtime.MIN_COSINE


def test_unknown_precision_is_one_clear_error(cache, tiny_config):
    from engine.errors import ViewfinderError

    with pytest.raises(ViewfinderError, match="choose one of"):
        Encoder.load(ModelSpec(str(tiny_config), None), "cpu", precision="fp8")


def test_precision_is_a_library_setting(tmp_path):
    from engine.errors import LibraryError
    from engine.library import Library

    with Library(tmp_path / "lib", precision="fp32") as library:
        assert library.precision == "fp32"
    with Library(tmp_path / "lib") as library:  # kept across opens
        assert library.precision == "fp32"
        with pytest.raises(LibraryError, match="choose one of"):
            library.set_precision("fp8")
        assert library.precision == "fp32"


def test_weights_replaced_in_place_are_exported_again(cache, pretrained_tiny, tmp_path):
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    weights = tmp_path / "model.safetensors"
    weights.write_bytes(Path(pretrained_tiny.pretrained).read_bytes())
    spec = ModelSpec(pretrained_tiny.name, str(weights))
    Encoder.load(spec, "cpu", precision="fp32")  # exports and caches the first weights' graphs

    tensors = load_file(weights)
    rng = np.random.default_rng(0)
    changed = {k: (v + rng.normal(0, 0.05, v.shape).astype(v.dtype)) if v.ndim >= 2 else v for k, v in tensors.items()}
    size = weights.stat().st_size
    with safe_open(weights, "np") as f:
        metadata = f.metadata()
    save_file(changed, weights, metadata=metadata)
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert weights.stat().st_size == size and spec.key == ModelSpec(spec.name, str(weights)).key

    fast = Encoder.load(spec, "cpu", precision="fp32")
    slow = Encoder.load(spec, "cpu", precision="torch")
    cos = (fast.encode_texts(TEXTS) * slow.encode_texts(TEXTS)).sum(axis=1)
    assert cos.min() >= runtime.MIN_COSINE


_FORKS: list[int] = []


def test_exporting_the_towers_reports_to_no_one(cache, tiny_config):
    """OpenVINO's converter would report each conversion to Google Analytics from a process it forks
    (a fork that once held the test suite at exit); Viewfinder keeps its telemetry from loading, so
    an export forks nothing and sends nothing."""
    if not _FORKS:
        os.register_at_fork(before=lambda: _FORKS.append(1))  # cannot be removed: counts from here on
        _FORKS.append(0)
    Encoder.load(ModelSpec(str(tiny_config), None), "cpu", precision="fp32")
    assert (cache / "graphs").exists() and sum(_FORKS) == 0
