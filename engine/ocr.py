"""Text in photos: a second, low-priority pass after embedding reads the words in photos (OCR).

rapidocr runs PP-OCR's detection, orientation and recognition networks on ONNX Runtime; the models
ship inside its wheel, so nothing is downloaded. Reading a photo costs far more than embedding it,
so a *gate* decides first which photos are worth reading:

- "detection": rapidocr's detection network alone, on a small copy of the photo (longer side
  GATE_SIDE). It finds lines of text of a few percent of the photo's height; a photo where it finds
  nothing is skipped. This is the default: it measured well on rendered text and camera photos
  (docs/ocr.md), and it needs no trained image model.
- "vector": the photo's stored vector, zero-shot: its cosine with a prompt ensemble of "text, a
  sign, a document, a screenshot, ..." minus its cosine with generic background prompts, the same
  calibration categories use. Free (no pixels are decoded), but only as good as the library's model:
  a randomly initialised or tiny model knows nothing of text.

Results are kept per content hash (renamed and moved photos keep their text), one transaction per
photo, so the pass resumes where it stopped. Photos a gate skipped are recorded as such; the "all"
mode reads them too.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from PIL import Image

from .errors import PhotoError, ViewfinderError
from .indexer import Progress
from .photos import thumbnail
from .storage import Store
from .storage.texts import OcrItem, PhotoText, TextLine

log = logging.getLogger(__name__)
_WORD_CHARS = re.compile(r"\w")

OcrMode = Literal["auto", "all", "off"]
GateKind = Literal["detection", "vector"]
OCR_MODES: tuple[OcrMode, ...] = ("auto", "all", "off")

# rapidocr shrinks anything larger to 2000 px before detection and crops lines for recognition from
# that copy; decoding larger only costs time (JPEG DCT scaling makes this decode cheap).
MAX_SIDE = 2000
# The detection gate's copy: at 640 px (a tenth of the pixels the full reading detects on) it still
# found every sign whose letters are 1% of the photo's longer side; at 480 px it missed most of
# those (docs/ocr.md).
GATE_SIDE = 640
# Lines rapidocr recognises with less confidence than this are mostly noise on textures.
MIN_LINE_SCORE = 0.6
# rapidocr's detector finds lines at the pixel level; the gate asks for a confident box.
GATE_BOX_SCORE = 0.6
# What "a photo with text in it" is, for the vector gate (a CLIP-style prompt ensemble).
TEXT_PROMPTS = (
    "text",
    "a sign",
    "a document",
    "a screenshot",
    "a receipt",
    "a menu",
    "a poster with words",
    "a whiteboard with writing",
    "a page of printed text",
)
# The vector gate reads a photo when text describes it better than "some photo" does (margin > 0),
# the same rule a category uses for membership.
VECTOR_MARGIN = 0.0
# Written into each result, so results of another engine can be told apart later.
ENGINE_NAME = "rapidocr/PP-OCR"


class OcrUnavailable(ViewfinderError):
    """The OCR engine cannot be loaded (not installed, or its models are missing)."""


@dataclass(frozen=True)
class OcrConfig:
    """How the OCR pass runs. mode: auto (gated), all (every photo), off. gate: see module doc."""

    mode: OcrMode = "auto"
    gate: GateKind = "detection"
    max_side: int = MAX_SIDE
    gate_side: int = GATE_SIDE
    threads: int | None = None  # ONNX Runtime threads; None: half the cores, it is a background pass

    def __post_init__(self) -> None:
        if self.mode not in OCR_MODES:
            raise ValueError(f"OCR mode must be one of {', '.join(OCR_MODES)}, got {self.mode!r}")
        if self.gate not in ("detection", "vector"):
            raise ValueError(f"OCR gate must be 'detection' or 'vector', got {self.gate!r}")


@dataclass(frozen=True)
class OcrProgress(Progress):
    """Progress of the OCR pass: `done` photos looked at, of which `skipped` by the gate and
    `found` with text."""

    skipped: int = 0
    found: int = 0


class TextReader:
    """rapidocr behind two calls: `has_text` (detection only, small) and `read` (the whole pipeline).

    The networks run in one worker thread of low priority (and ONNX Runtime's threads, created from
    it, inherit that), so a pass yields the CPU to the app and to other work without changing the
    priority of the thread that asked. Loaded on first use: importing rapidocr takes a second or two.
    `close()` ends the worker.
    """

    def __init__(self, *, gate_side: int = GATE_SIDE, threads: int | None = None):
        self.gate_side = gate_side
        self.threads = threads or max(1, (os.cpu_count() or 2) // 2)
        self._full: Any = None
        self._gate: Any = None
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="ocr", initializer=_lower_priority)

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    def _engine(self, gate: bool) -> Any:
        if self._full is None:
            # ONNX Runtime (1.32 on) records usage in a database under ~/.cache and sends it to Microsoft
            # unless told not to; a photo library's app stays offline, and the telemetry's threads and
            # open database were seen to hang a process forked after it loaded.
            os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
            try:
                from rapidocr import RapidOCR
            except ImportError as e:
                raise OcrUnavailable(f"Text in photos needs rapidocr and onnxruntime: {e}") from e
            common = {
                "Global.log_level": "error",
                "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
            try:
                self._full = RapidOCR(params={**common, "Global.text_score": MIN_LINE_SCORE})
                self._gate = RapidOCR(
                    params={**common, "Det.limit_side_len": self.gate_side, "Det.limit_type": "max"}
                )
            except Exception as e:  # a broken install must say so once, not per photo
                raise OcrUnavailable(f"The OCR engine could not start: {e}") from e
        return self._gate if gate else self._full

    def has_text(self, image: Image.Image) -> bool:
        """Whether the detection network finds at least one confident line on a small copy."""
        return self._worker.submit(self._has_text, image).result()

    def read(self, image: Image.Image) -> tuple[TextLine, ...]:
        """Every line of text rapidocr recognises, top to bottom."""
        return self._worker.submit(self._read, image).result()

    def _has_text(self, image: Image.Image) -> bool:
        small = image.copy()
        small.thumbnail((self.gate_side, self.gate_side))
        out = self._engine(gate=True)(small, use_cls=False, use_rec=False)
        scores = getattr(out, "scores", None)
        return scores is not None and any(s >= GATE_BOX_SCORE for s in scores)

    def _read(self, image: Image.Image) -> tuple[TextLine, ...]:
        out = self._engine(gate=False)(image)
        if getattr(out, "txts", None) is None or out.boxes is None:
            return ()
        w, h = image.size
        lines = []
        for text, score, box in zip(out.txts, out.scores, out.boxes, strict=True):
            text = " ".join(str(text).split())
            if score < MIN_LINE_SCORE or len(_WORD_CHARS.findall(text)) < 2:
                continue  # a lone letter is mostly a texture read as one, and no query word anyway
            corners = tuple((_clip(x / w), _clip(y / h)) for x, y in np.asarray(box, float).tolist())
            lines.append(TextLine(text, round(float(score), 4), corners))
        return tuple(lines)


def _clip(v: float) -> float:
    return round(min(1.0, max(0.0, v)), 5)


def text_margins(vectors: np.ndarray, encode_texts: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """For unit photo vectors (N, D): cosine with the text-prompt ensemble minus cosine with the
    background ensemble. Positive where text describes the photo better than "some photo" does."""
    from .categories import BACKGROUND_PROMPTS, ensemble_vector

    text = ensemble_vector(list(TEXT_PROMPTS), encode_texts)
    background = encode_texts(list(BACKGROUND_PROMPTS)).mean(axis=0)
    background = background / (np.linalg.norm(background) or 1.0)
    return vectors @ text - vectors @ background


def _lower_priority() -> None:
    """Let this thread yield to everything else (Linux: niceness is per thread, and threads created
    from it inherit it). Best effort: elsewhere it changes nothing."""
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < 10:
            os.setpriority(os.PRIO_PROCESS, tid, 10)
    except (AttributeError, OSError):
        pass


class OcrPass:
    """Reads the text in indexed photos. The store, reader and gate are injected; no UI here.

    encode_texts is needed only by the vector gate (the library's model's text tower).
    """

    def __init__(
        self,
        store: Store,
        reader: TextReader,
        model_key: str,
        config: OcrConfig = OcrConfig(),
        *,
        encode_texts: Callable[[list[str]], np.ndarray] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        if config.gate == "vector" and encode_texts is None:
            raise ValueError("the vector gate needs the model's text encoder")
        self.store = store
        self.reader = reader
        self.model_key = model_key
        self.config = config
        self.encode_texts = encode_texts
        self.clock = clock

    def pending(self) -> list[OcrItem]:
        """Embedded photos whose text is not known yet (mode all: also those a gate skipped)."""
        if self.config.mode == "off":
            return []
        return self.store.texts.pending(self.model_key, include_skipped=self.config.mode == "all")

    def run(
        self,
        items: Sequence[OcrItem] | None = None,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> OcrProgress:
        """Read the pending photos (or `items`). Returns the final progress; `cancelled` if stopped.

        Each photo's result is saved as soon as it is known, so a stop loses at most one photo.
        """
        items = list(self.pending() if items is None else items)
        start = self.clock()
        total, done, failed, skipped, found = len(items), 0, 0, 0, 0
        gated = self.config.mode == "auto"

        def report(path: str | None, cancelled: bool = False) -> OcrProgress:
            rate = done / max(self.clock() - start, 1e-9)
            eta = (total - done) / rate if rate > 0 else None
            phase = "done" if path is None else "reading text"
            return OcrProgress(phase, done, total, failed, rate, eta, path, cancelled, skipped, found)

        if gated and self.config.gate == "vector" and items:
            items, dropped = self._vector_gate(items)
            self.store.texts.save([PhotoText(i.hash, "skipped", gate="vector") for i in dropped], ENGINE_NAME)
            done = skipped = len(dropped)
        stopped = False
        for item in items:
            if cancel is not None and cancel.is_set():
                stopped = True
                break
            try:
                image = thumbnail(item.path, self.config.max_side)
                if gated and self.config.gate == "detection" and not self.reader.has_text(image):
                    result = PhotoText(item.hash, "skipped", gate="detection")
                    skipped += 1
                else:
                    result = PhotoText(item.hash, "read", self.reader.read(image))
                    found += bool(result.lines)
                self.store.texts.save([result], ENGINE_NAME)
            except PhotoError as e:  # it was readable when embedded: retried on the next pass
                log.warning("cannot read text of %s: %s", item.path, e.reason)
                failed += 1
            except OcrUnavailable:
                raise
            except Exception:  # an OCR bug must cost one photo, not the pass
                log.exception("OCR failed on %s", item.path)
                failed += 1
            done += 1
            if progress:
                progress(report(item.path))
        final = report(None, stopped)
        if progress:
            progress(final)
        return final

    def _vector_gate(self, items: Sequence[OcrItem]) -> tuple[list[OcrItem], list[OcrItem]]:
        assert self.encode_texts is not None
        dim = self.store.vectors.dim(self.model_key) or 0
        vectors = self.store.vectors.by_label([i.label for i in items], dim)
        margins = text_margins(vectors, self.encode_texts)
        keep = [i for i, m in zip(items, margins, strict=True) if m > VECTOR_MARGIN]
        drop = [i for i, m in zip(items, margins, strict=True) if m <= VECTOR_MARGIN]
        return keep, drop
