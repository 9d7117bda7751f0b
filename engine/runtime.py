"""Fast CPU inference of the two towers through OpenVINO, exported once per model and checked.

Chosen by measurement on a 2-core AVX-512/BF16 CPU (benchmarks/runtime_compare.py): OpenVINO runs
ViT-B-32's image tower on par with ONNX Runtime at fp32 (0.8-1.2x across runs) and 1.9-2.7x faster
at bf16, which ONNX Runtime lacks on the CPU, with the same faithfulness. The graphs are exported from the torch model (engine/forward.py, so they
compute exactly what the encoder computes), compared with torch on a fixed probe batch, and saved
with the verdict in the model's cache folder: a later start loads them without torch.

Precision: "fp32" (the text graph's weights then in int8, weight-only: see _compress_text);
"bf16" (the precision these models are trained in; the default where the CPU has native bf16; the
text graph's token table is then kept in int8); "int8" (weights through NNCF, and the activations
quantised to int8 as the graph runs; opt-in). "auto" picks bf16 or fp32.

OpenVINO's CPU plugin quantises the activations of any layer with int8 weights at run time, in
groups of 32 values, unless told not to (DYNAMIC_QUANTIZATION_GROUP_SIZE). Most of int8 weights'
speed comes from that (a text query, ViT-B-32 at bf16: 6.1 ms against 8.8 ms without it), but it is
not weight-only compression, the only int8 that published CLIP measurements show costs no
retrieval. So it is off at fp32 and bf16, and only the opt-in "int8" precision uses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.errors import ViewfinderError
from engine.int8 import dequantised, quantise

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "int8", "torch")  # torch: no runtime, eager PyTorch fp32
# Lowest cosine between a runtime vector and torch's on the probe batch for the graphs to be used.
MIN_COSINE = 0.999
# The lengths token ids are cut to for a causal text tower (cut_ids); longer ones are not cut.
CUT_LENGTHS = (8, 16, 32)
# Lookup tables (Gather on a constant) of at least this many numbers are kept in int8 in the small
# text graphs: the text tower's token table.
TABLE8_MIN = 1_000_000
# The smaller text graph of a precision (_compress_text), used where it passed the same check.
SMALL_TEXT = {"bf16": "text-table8.xml", "fp32": "text-w8.xml"}
# Bump when what is exported or how it is checked changes: old folders are then exported again
# (5: patch grids; 6: the text graph at bf16 has an int8 token table instead of int8 weights;
# 7: at fp32, a text graph with int8 weights).
_FORMAT = 7
_PROBE_TEXTS = (
    "a photo of a dog",
    "two children playing football on a beach at sunset",
    "receipt",
    "a red car parked in front of an old stone house with a blue door",
    "snow",
    "a bowl of ramen",
    "my grandmother's kitchen",
    "city skyline at night, long exposure",
)


@dataclass(frozen=True)
class Verdict:
    """The export check of one model at one precision."""

    precision: str
    image_cosine: float  # the lowest cosine on the probe batch
    text_cosine: float | None  # None: the text tower stays on torch
    # The precision's smaller text graph (SMALL_TEXT), checked the same way; None: not made
    small_text_cosine: float | None = None

    @property
    def ok(self) -> bool:
        return self.image_cosine >= MIN_COSINE and (
            self.text_cosine is None or self.text_cosine >= MIN_COSINE
        )


def available() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def native_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX512-BF16 or AMX); emulated bf16 is slower."""
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def resolve_precision(precision: str | None) -> str:
    """A precision name, "auto" resolved for this CPU; None reads $VIEWFINDER_PRECISION."""
    precision = (precision or os.environ.get("VIEWFINDER_PRECISION") or "auto").lower()
    if precision not in PRECISIONS:
        raise ViewfinderError(f"Unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}.")
    if precision == "auto":
        return "bf16" if available() and native_bf16() else "fp32"
    return precision


def graph_dir(cache_root: Path, model_key: str) -> Path:
    """Where one model's graphs live: its identity hashed (a fine-tuned version is another model)."""
    return cache_root / "graphs" / hashlib.sha1(model_key.encode()).hexdigest()[:20]


class Towers:
    """Compiled image and (optionally) text graphs. Inputs and outputs are numpy arrays; the
    outputs are unit vectors. Safe to call from several threads (own requests per call).

    The text graph runs one query on all cores (LATENCY hint). The image graph is compiled for
    throughput: one single-threaded stream per core, and a batch is split across them. Indexing
    runs the model beside the decode threads; independent single-threaded streams keep working
    when a decoder takes a core, where one request spread over all cores waits for its slowest
    thread at every layer. `image_hint="LATENCY"` compiles it the other way (for comparison).
    The text graph is the precision's smaller one (SMALL_TEXT) where that passed its check
    (small_text=False: never)."""

    def __init__(
        self,
        folder: Path,
        precision: str,
        meta: dict,
        *,
        image: bool = True,
        image_hint: str = "THROUGHPUT",
        small_text: bool = True,
    ):
        import openvino as ov

        self.folder = folder
        self.precision = precision
        self.meta = meta
        core = ov.Core()
        config = _precision_config(precision)
        suffix = "-int8" if precision == "int8" else ""
        self._image: Any = None
        self._image_streams = 1
        if image:
            image_config: dict[str, Any] = {**config, "PERFORMANCE_HINT": image_hint}
            if image_hint == "THROUGHPUT":
                image_config["NUM_STREAMS"] = max(1, os.cpu_count() or 1)
            self._image = core.compile_model(str(folder / f"image{suffix}.xml"), "CPU", image_config)
            self._image_streams = int(self._image.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        self._text = self._compile_text(core, config, small_text)
        # "causal": ids cut after the longest text, plus end-of-text positions; "full": whole ids
        self.causal = meta.get("text") == "causal"

    def _compile_text(self, core: Any, config: dict[str, Any], small_text: bool) -> Any:
        if not self.meta.get("text"):
            return None
        text = self.folder / ("text-int8.xml" if self.precision == "int8" else "text.xml")
        small = self.meta.get("verdicts", {}).get(self.precision, {}).get("small_text_cosine")
        if small_text and small is not None and small >= MIN_COSINE:
            text = self.folder / SMALL_TEXT[self.precision]  # see _compress_text
        return core.compile_model(str(text), "CPU", _text_config(self.folder, config))

    def use_small_text(self) -> None:
        """Switch to the precision's smaller text graph where its recorded check passed (after an
        export)."""
        import openvino as ov

        self._text = self._compile_text(ov.Core(), _precision_config(self.precision), True)

    @property
    def has_text(self) -> bool:
        return self._text is not None

    def encode_images(self, pixels: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 preprocessed pixels -> (N, D) unit vectors."""
        return self.encode_images_and_grids(pixels)[0]

    def encode_images_and_grids(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(N, 3, H, W) float32 preprocessed pixels -> (N, D) unit vectors and, from the same pass,
        the (N, rows, cols, D) patch grids (engine/forward.py image_grid; None when the tower has
        no patch tokens)."""
        assert self._image is not None
        pixels = np.asarray(pixels, dtype=np.float32)
        parts = max(1, min(self._image_streams, len(pixels)))
        requests = [self._image.create_infer_request() for _ in range(parts)]
        for request, chunk in zip(requests, np.array_split(pixels, parts), strict=True):
            request.start_async([np.ascontiguousarray(chunk)])
        for request in requests:
            request.wait()

        def output(i: int) -> np.ndarray:
            return np.concatenate([np.array(r.get_output_tensor(i).data, dtype=np.float32) for r in requests])

        return output(0), output(1) if len(self._image.outputs) > 1 else None

    def encode_ids(self, ids: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
        """Token ids -> (N, D) unit vectors. A causal tower takes (N, L) ids cut after the longest
        text and each text's end-of-text position; any other takes the (N, context) ids whole."""
        assert self._text is not None
        if not self.causal:
            return _infer(self._text, [ids.astype(np.int64)])
        assert positions is not None
        return _infer(self._text, [ids.astype(np.int64), positions.astype(np.int64)])


def _precision_config(precision: str) -> dict[str, Any]:
    """OpenVINO's settings for graphs exported at `precision`: the activations' float type, and
    whether layers with int8 weights quantise their activations too (only at "int8"; see above)."""
    return {
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        "DYNAMIC_QUANTIZATION_GROUP_SIZE": 32 if precision == "int8" else 0,
    }


def _text_config(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The text graph runs one query on all cores. Its compiled form is kept too (OpenVINO's model
    cache): a cold text search then loads it in a third of the time it takes to compile (measured
    0.8 -> 0.25 s)."""
    return {**config, "PERFORMANCE_HINT": "LATENCY", "CACHE_DIR": str(folder / "compiled")}


def _infer(compiled: Any, inputs: list[np.ndarray]) -> np.ndarray:
    request = compiled.create_infer_request()  # one per call: requests are not shared across threads
    request.infer(inputs)
    return np.array(request.get_output_tensor(0).data, dtype=np.float32)


def _read_meta(folder: Path) -> dict | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    return meta if meta.get("format") == _FORMAT else None


def cached_verdict(folder: Path, precision: str) -> Verdict | None:
    """The recorded check of `folder`'s graphs at `precision`; None when never checked."""
    meta = _read_meta(folder)
    verdict = meta.get("verdicts", {}).get(precision) if meta else None
    return Verdict(**verdict) if verdict else None


def load(folder: Path, precision: str, *, image: bool = True) -> Towers | None:
    """The cached graphs of `folder` at `precision` when they passed their check; None when they
    were never exported or checked, failed the check, or cannot be read."""
    meta = _read_meta(folder)
    verdict = cached_verdict(folder, precision)
    if meta is None or verdict is None or not verdict.ok:
        return None
    try:
        return Towers(folder, precision, meta, image=image)
    except Exception as e:  # a damaged cache: the caller exports again
        log.warning("cannot load the runtime graphs in %s (%s)", folder, e)
        return None


def export(
    model: nn.Module,
    folder: Path,
    precision: str,
    image_size: tuple[int, int],
    tokenize: Any,
    text_meta: dict | None = None,
) -> Towers | None:
    """Export `model`'s towers into `folder` (once), check them at `precision` against torch, save
    the verdict, and return them when they pass (None, with a log line, when not). `tokenize`
    turns a list of texts into the model's (N, context) token id tensor. `text_meta` describes the
    tokenizer when a torch-free one can stand in for it (see TextQuery)."""
    import openvino as ov
    import torch

    from engine import forward

    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / "meta.json"
    meta = _read_meta(folder)
    if meta is None:  # never exported, or exported in an older format: its graphs are not reused
        _remove_graphs(folder)
        meta = {"format": _FORMAT, "verdicts": {}}
    model = model.float().eval()
    probe = _probe_pixels(image_size)
    causal = forward.is_causal_text(model)
    meta["text"] = "causal" if causal else "full"
    meta["tokenizer"] = text_meta
    with torch.inference_mode():
        want_images = forward.image_vectors(model, torch.from_numpy(probe)).numpy()
        want_grids = None
        if forward.has_patch_tokens(model):
            want_grids = forward.image_grid(model, torch.from_numpy(probe))[1].numpy()
        full = tokenize(list(_PROBE_TEXTS))
        want_texts = forward.text_vectors(model, full).numpy()
        positions = forward.pool_positions(model, full).numpy() if causal else None
        ids = cut_ids(full.numpy(), positions) if positions is not None else full.numpy()
    if not (folder / "image.xml").exists():
        log.info("exporting %s to OpenVINO (once per model)", folder.name)
        _save(ov, torch, forward.ImageGraph(model), [torch.from_numpy(probe[:2])], folder / "image.xml")
        if positions is not None:
            graph: Any = forward.TextGraph(model)
            example = [torch.from_numpy(ids), torch.from_numpy(positions)]
        else:
            graph, example = forward.FullTextGraph(model), [torch.from_numpy(ids)]
        _save(ov, torch, graph, example, folder / "text.xml")
    if precision == "int8":
        _compress_int8(ov, folder)
    small_cos = None
    if precision in SMALL_TEXT:
        try:
            small = _compress_text(ov, folder, precision)
            small_cos = _text_cosine(small, precision, ids, positions, want_texts)
        except Exception as e:  # optional: the plain text graph answers
            log.info("no smaller text graph (%s)", e)
    meta_path.write_text(json.dumps(meta))  # the graphs are complete: record them before compiling
    towers = Towers(folder, precision, meta, small_text=False)
    got_images, got_grids = towers.encode_images_and_grids(probe)
    image_cos = _min_cosine(got_images, want_images)
    if want_grids is not None:  # the patch grid is held to the same check as the vectors
        image_cos = min(image_cos, _grid_cosine(got_grids, want_grids))
    text_cos = _min_cosine(towers.encode_ids(ids, positions), want_texts)
    verdict = Verdict(precision, image_cos, text_cos, small_cos)
    meta["verdicts"][precision] = asdict(verdict)
    tmp = meta_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, meta_path)
    if not verdict.ok:
        log.warning(
            "runtime graphs at %s differ from torch (lowest cosine image %.5f, text %s): using torch",
            precision,
            image_cos,
            text_cos,
        )
        return None
    log.info(
        "runtime graphs at %s match torch (lowest cosine image %.6f, text %s, smaller text graph %s)",
        precision,
        image_cos,
        text_cos,
        small_cos,
    )
    towers.use_small_text()
    return towers


def _remove_graphs(folder: Path) -> None:
    """Delete the graphs of an older export (and their compiled forms), so that they are made again:
    a new format changes what a graph computes (format 5 gave the image graph a second output)."""
    for path in [*folder.glob("*.xml"), *folder.glob("*.bin")]:
        path.unlink(missing_ok=True)
    shutil.rmtree(folder / "compiled", ignore_errors=True)


def _save(ov: Any, torch: Any, module: Any, example: list, path: Path) -> None:
    dynamic = [tuple(-1 for _ in e.shape) if e.dim() < 4 else (-1, *e.shape[1:]) for e in example]
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes: the graph is checked after
        traced = torch.jit.trace(module, tuple(example), check_trace=False)
    graph = ov.convert_model(traced, input=dynamic)
    ov.save_model(graph, str(path), compress_to_fp16=False)


def _compress_int8(ov: Any, folder: Path) -> None:
    try:
        import nncf
    except ImportError as e:
        raise ViewfinderError("Precision int8 needs NNCF: pip install 'viewfinder[int8]'.") from e
    core = ov.Core()
    for name in ("image", "text"):
        target = folder / f"{name}-int8.xml"
        if not target.exists():
            compressed = nncf.compress_weights(core.read_model(str(folder / f"{name}.xml")))
            ov.save_model(compressed, str(target), compress_to_fp16=False)


def _compress_text(ov: Any, folder: Path, precision: str) -> Path:
    """The precision's smaller text graph (SMALL_TEXT[precision]): text.xml with int8 weights, one
    scale per row (symmetric), and at fp32 its layers' weight matrices too (one scale per output);
    made once. Returns its path.

    The token table (ViT-B-32: 49408 x 512, 101 MB in float32) costs no time in int8: a query looks
    up a few rows of it. Weight-only int8 of the layers is the compression published CLIP
    measurements show costs no retrieval. At fp32 a cold command-line search (ViT-B-32-256,
    benchmarks/cold_cli.py) then peaks at 231 MB instead of 542 MB, and short queries take a little
    less time on a CPU with AVX2 alone (one word, 4 tokens: 9.7 -> 7.3 ms; 8 tokens 11.7 -> 10.9 ms;
    16 the same). At bf16 the layers keep their weights: in int8 they made
    a query slower (8.8 against 7.4 ms, benchmarks/runtime_compare.py), as the CPU widens them
    while it reads them. A process that loads ViT-B-32's compiled bf16 text graph from the cache
    and answers one query peaks at 329 MB with the int8 table, 423 MB without."""
    target = folder / SMALL_TEXT[precision]
    if target.exists():
        return target
    graph = ov.Core().read_model(str(folder / "text.xml"))
    kinds = ("Gather", "MatMul") if precision == "fp32" else ("Gather",)
    for op in graph.get_ordered_ops():
        kind = op.get_type_name()
        if kind not in kinds:
            continue
        port = 0 if kind == "Gather" else 1
        source = op.input(port).get_source_output().get_node()
        if source.get_type_name() != "Constant" or source.get_element_type() != ov.Type.f32:
            continue
        weights = source.get_data().astype(np.float32)
        if weights.ndim != 2 or (kind == "Gather" and weights.size < TABLE8_MIN):
            continue
        axis = 0 if kind == "MatMul" and not op.get_attributes().get("transpose_b", False) else 1
        op.input(port).replace_source_output(dequantised(*quantise(weights, axis=axis)).output(0))
    ov.save_model(graph, str(target), compress_to_fp16=False)
    return target


def _text_cosine(
    path: Path, precision: str, ids: np.ndarray, positions: np.ndarray | None, want: np.ndarray
) -> float:
    """The lowest cosine of a text graph's vectors, compiled as Towers compiles it, with torch's `want`."""
    import openvino as ov

    config = _text_config(path.parent, _precision_config(precision))
    compiled = ov.Core().compile_model(str(path), "CPU", config)
    inputs = [ids.astype(np.int64)] if positions is None else [ids.astype(np.int64), positions.astype(np.int64)]
    return _min_cosine(_infer(compiled, inputs), want)


def _probe_pixels(image_size: tuple[int, int]) -> np.ndarray:
    """Eight fixed inputs: smooth random images and noise, in the normalised pixel range."""
    rng = np.random.default_rng(0)
    h, w = image_size
    coarse = rng.normal(size=(4, 3, 8, 8)).astype(np.float32)
    smooth = np.repeat(np.repeat(coarse, -(-h // 8), axis=2), -(-w // 8), axis=3)[:, :, :h, :w]
    noise = rng.normal(size=(4, 3, h, w)).astype(np.float32)
    return np.concatenate([smooth, noise]).astype(np.float32)


def cut_ids(ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Token ids cut after the longest text's end, which the causal tower never looks past, at
    one of a few lengths (the padding after the end changes nothing). OpenVINO prepares a graph
    of dynamic shape again for each new input shape: with queries of any length that cost about
    1 ms a query (ViT-B-32 at bf16, 11 queries of 3-11 tokens in turn: 7.4 -> 6.5 ms)."""
    length = int(positions.max()) + 1
    length = next((n for n in CUT_LENGTHS if n >= length), ids.shape[1])
    return np.ascontiguousarray(ids[:, : min(length, ids.shape[1])])


def _grid_cosine(got: np.ndarray | None, want: np.ndarray) -> float:
    """The lowest cosine between the runtime's grid cells and torch's (-1 when it has none)."""
    if got is None or got.shape != want.shape:
        return -1.0
    want = want.reshape(-1, want.shape[-1])
    unit = want / np.maximum(np.linalg.norm(want, axis=1, keepdims=True), 1e-12)
    return _min_cosine(got.reshape(want.shape), unit)


def _min_cosine(got: np.ndarray, want: np.ndarray) -> float:
    got = got / np.maximum(np.linalg.norm(got, axis=1, keepdims=True), 1e-12)
    return float((got * want).sum(axis=1).min())


class TextQuery:
    """Text vectors from a model's cached text graph and the torch-free CLIP tokenizer: what a text
    search or a category needs, in a fraction of a second. Anything else (image queries, tokens,
    training) is asked of the full encoder, which `load_full` loads (with torch) on first use."""

    def __init__(self, towers: Towers, load_full: Any):
        from engine.clip_tokenizer import ClipTokenizer

        info = towers.meta["tokenizer"]
        self.towers = towers
        self._tokenizer = ClipTokenizer(int(info["context_length"]))
        self._eos_id = info.get("eos_id")  # pooled at this id; None: at the largest id (argmax)
        self._causal = towers.causal
        self._load_full = load_full
        self.dim = int(info["dim"])

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        ids = self._tokenizer(list(texts))
        if not self._causal:
            return self.towers.encode_ids(ids)
        positions = (ids == self._eos_id).argmax(axis=1) if self._eos_id is not None else ids.argmax(axis=1)
        return self.towers.encode_ids(cut_ids(ids, positions), positions)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._load_full(), name)


def text_query(folder: Path, precision: str, load_full: Any) -> TextQuery | None:
    """A TextQuery over the cached graphs of `folder`, when they passed their check and the model
    uses CLIP's tokenizer; None otherwise (then the full encoder answers)."""
    meta = _read_meta(folder)
    if not meta or not meta.get("text") or not meta.get("tokenizer"):
        return None
    towers = load(folder, precision, image=False)
    return TextQuery(towers, load_full) if towers is not None else None
