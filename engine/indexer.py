"""The indexing pipeline: parallel decode workers feed batches to the encoder; results are written
to the store one transaction per batch, then added to the vector index.

Decoding a camera JPEG costs about as much CPU as the model, so the three stages overlap: workers
decode ahead (at least two batches: one for the model, one filling), the model embeds one batch in
its own thread, and the previous batch is written meanwhile (PIL, the runtime and SQLite release
the GIL). A kill at any moment loses at most the batches in flight.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import PhotoError
from .phash import perceptual_hash
from .photos import PhotoMeta, open_image, read_metadata
from .store import PhotoUpdate, Store
from .vector_index import VectorIndex

if TYPE_CHECKING:  # the encoder pulls in torch; status and search must not pay for it
    from .encoder import Encoder

log = logging.getLogger(__name__)

# Decoded photos waiting for the model, per worker, beyond the two batches the model side holds:
# enough to hide decode jitter, little memory (a model input is well under 1 MB).
_PREFETCH_PER_WORKER = 6


@dataclass(frozen=True)
class Progress:
    """Where a long operation stands. `rate` is photos per second; `eta` seconds, None if unknown."""

    phase: str
    done: int = 0
    total: int = 0
    failed: int = 0
    rate: float = 0.0
    eta: float | None = None
    path: str | None = None
    cancelled: bool = False


ProgressCallback = Callable[[Progress], None]


@dataclass
class Prepared:
    """One photo read and decoded: what to save about it, and its model input when it needs a vector.

    With decoding on the model's device, a JPEG arrives undecoded (`jpeg`, and the `orientation`
    its header gives) and the model side decodes it (engine/device_decode.py); `pixels` is then a
    tensor on that device."""

    update: PhotoUpdate
    path: str
    pixels: np.ndarray | Any | None = None
    phash: int | None = None  # perceptual hash (engine/phash.py), made while the photo is decoded
    jpeg: bytes | None = None
    orientation: int = 1

    @property
    def needs_model(self) -> bool:
        return self.pixels is not None or self.jpeg is not None


def content_hash(data: bytes) -> str:
    """Identity of a photo by content, so renames and moves keep vectors, tags and highlights.

    SHA-1 runs in hardware on current x86 and ARM CPUs (about 3x faster than BLAKE2 here, and this
    is on the indexing hot path); collisions matter only against an attacker, not for photos."""
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _update(photo_id: int, digest: str, meta: PhotoMeta) -> PhotoUpdate:
    return PhotoUpdate(
        photo_id=photo_id,
        hash=digest,
        width=meta.width,
        height=meta.height,
        taken_at=meta.taken_at,
        camera_make=meta.camera_make,
        camera_model=meta.camera_model,
        latitude=meta.latitude,
        longitude=meta.longitude,
        damage=meta.damage,
    )


def read_photo_file(path: str) -> bytes:
    """The bytes of a photo file. Raises PhotoError with the reason it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise PhotoError(path, "file vanished before it could be read") from None
    except OSError as e:
        raise PhotoError(path, f"cannot read file: {e.strerror or e}") from e


def prepare_photo(
    photo_id: int, path: str, encoder: Encoder, known: Collection[str], data: bytes | None = None
) -> Prepared:
    """Hash and decode one photo from `data` (read from `path` when None). Never raises: a photo
    that cannot be read or decoded comes back with its reason. A photo whose hash is in `known`
    (renamed, moved or a duplicate) keeps the vector it has and is not decoded."""
    try:
        if data is None:
            data = read_photo_file(path)
        digest = content_hash(data)
        if digest in known:
            return Prepared(_update(photo_id, digest, read_metadata(data, path_for_errors=path)), path)
        image, meta = open_image(data, min_size=encoder.image_size, path_for_errors=path)
        pixels = encoder.preprocess_array(image)
        return Prepared(_update(photo_id, digest, meta), path, pixels, perceptual_hash(image))
    except PhotoError as e:
        return Prepared(PhotoUpdate(photo_id, hash=None, error=e.reason), path)
    except Exception as e:  # a decoder bug must cost one photo, not the run
        log.exception("unexpected error reading %s", path)
        return Prepared(PhotoUpdate(photo_id, hash=None, error=f"unexpected error: {e}"), path)


def prepare_header(photo_id: int, path: str, encoder: Encoder, known: Collection[str]) -> Prepared:
    """Like `prepare_photo`, but a JPEG is only read, hashed and its header parsed: the model side
    decodes it on its device. Other formats are decoded here as usual."""
    from .device_decode import is_complete, is_jpeg

    try:
        data = read_photo_file(path)
    except PhotoError as e:
        return Prepared(PhotoUpdate(photo_id, hash=None, error=e.reason), path)
    if not is_jpeg(data) or not is_complete(data):
        return prepare_photo(photo_id, path, encoder, known, data)
    try:
        digest = content_hash(data)
        meta = read_metadata(data, path_for_errors=path)
    except PhotoError as e:
        return Prepared(PhotoUpdate(photo_id, hash=None, error=e.reason), path)
    except Exception as e:
        log.exception("unexpected error reading %s", path)
        return Prepared(PhotoUpdate(photo_id, hash=None, error=f"unexpected error: {e}"), path)
    if digest in known:
        return Prepared(_update(photo_id, digest, meta), path)
    return Prepared(_update(photo_id, digest, meta), path, jpeg=data, orientation=meta.orientation)


# JPEGs handed to the device and not yet embedded, in batches: beyond this, workers decode themselves
DEVICE_QUEUE_BATCHES = 2
_DEVICE_DECODE_BYTES = 2**31  # decoded pixels held on the device at once: about 60 twelve-megapixel photos


def decode_on_device(encoder: Encoder, batch: Sequence[Prepared]) -> None:
    """Decode the batch's waiting JPEGs on the encoder's device into model inputs and perceptual
    hashes, in as few calls as the device's memory allows. A JPEG the device decoder refuses (CMYK,
    ...) is decoded on the CPU as usual, so it fails or is kept exactly as it would be there."""
    waiting = [item for item in batch if item.jpeg is not None]
    start, held = 0, 0
    for end, item in enumerate(waiting, 1):
        held += 3 * (item.update.width or 0) * (item.update.height or 0)
        if held >= _DEVICE_DECODE_BYTES or end == len(waiting):
            _decode_group(encoder, waiting[start:end])
            start, held = end, 0


def _decode_group(encoder: Encoder, waiting: Sequence[Prepared]) -> None:
    from . import device_decode

    try:
        images: list[Any] = device_decode.decode([item.jpeg or b"" for item in waiting], encoder.device)
    except RuntimeError:
        images = [None] * len(waiting)
    uprights = []
    for i, item in enumerate(waiting):
        data, item.jpeg = item.jpeg or b"", None
        image, images[i] = images[i], None  # each full-size photo freed once shrunk
        if image is None:
            try:
                image = device_decode.decode([data], encoder.device)[0]
            except RuntimeError:
                done = prepare_photo(item.update.photo_id, item.path, encoder, (), data)
                item.update, item.pixels, item.phash = done.update, done.pixels, done.phash
                continue
        small = device_decode.shrink(image, item.orientation, encoder.image_size)
        upright = device_decode.upright(small, item.orientation)
        item.pixels = device_decode.model_input(encoder, upright)
        uprights.append((item, upright))
    if uprights:
        hashes = device_decode.perceptual_hashes([upright for _, upright in uprights])
        for (item, _), phash in zip(uprights, hashes, strict=True):
            item.phash = phash


@dataclass
class Embedded:
    """A batch's vectors, and their patch grids where the model gives them, by content hash."""

    vectors: dict[str, np.ndarray]
    grids: dict[str, np.ndarray]


def embed_batch(encoder: Encoder, batch: Sequence[Prepared]) -> Embedded:
    """The vectors (and patch grids, engine/storage/grids.py) of a batch's decoded photos by
    content hash, each distinct photo encoded once."""
    decode_on_device(encoder, batch)
    to_encode: dict[str, Any] = {}
    for item in batch:
        if item.pixels is not None and item.update.hash not in to_encode:
            to_encode[item.update.hash or ""] = item.pixels
    if not to_encode:
        return Embedded({}, {})
    inputs = list(to_encode.values())
    if all(isinstance(x, np.ndarray) for x in inputs):
        encoded, grids = encoder.encode_images_and_grids(np.stack(inputs))
    else:  # some decoded on the device: stack them there
        import torch

        device = next(x.device for x in inputs if isinstance(x, torch.Tensor))
        stacked = torch.stack([torch.as_tensor(x).to(device) for x in inputs])
        encoded, grids = encoder.encode_images_and_grids(stacked)
    return Embedded(
        dict(zip(to_encode, encoded, strict=True)),
        dict(zip(to_encode, grids, strict=True)) if grids is not None else {},
    )


def write_batch(
    store: Store,
    index: VectorIndex,
    model_key: str,
    updates: Sequence[PhotoUpdate],
    vectors: dict[str, np.ndarray],
    perceptual: dict[str, int] | None = None,
    grids: dict[str, np.ndarray] | None = None,
) -> None:
    """Save one batch of results in one transaction, then add its new vectors to the index."""
    added = store.save_results(model_key, updates, vectors, perceptual, grids)
    if added:
        labels, vecs = zip(*added, strict=True)
        index.add(np.array(labels, dtype=np.int64), np.stack(vecs))


class Meter:
    """Counts a run's photos and turns the counts into Progress (rate and ETA from `clock`)."""

    def __init__(self, total: int, clock: Callable[[], float]):
        self.total, self.done, self.failed = total, 0, 0
        self.clock = clock
        self.start = clock()

    def count(self, updates: Sequence[PhotoUpdate]) -> None:
        self.done += len(updates)
        self.failed += sum(u.error is not None for u in updates)

    def progress(self, path: str | None = None) -> Progress:
        rate = self.done / max(self.clock() - self.start, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else None
        return Progress("indexing", self.done, self.total, self.failed, rate, eta, path)

    def finished(self, cancelled: bool) -> Progress:
        state = self.progress()
        return Progress("done", state.done, self.total, state.failed, state.rate, 0.0, None, cancelled)


def decodes_on_device(encoder: Encoder) -> bool:
    """Whether the indexer should leave JPEG decoding to the model's device: on a CUDA GPU."""
    return str(getattr(encoder, "device", "cpu")).startswith("cuda")


class Indexer:
    """Embeds pending photos. The store, encoder and index are injected; nothing here knows the UI."""

    def __init__(
        self,
        store: Store,
        encoder: Encoder,
        index: VectorIndex,
        model_key: str,
        *,
        batch_size: int = 32,
        workers: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        device_decode: bool | None = None,
    ):
        self.store = store
        self.encoder = encoder
        self.index = index
        self.model_key = model_key
        self.batch_size = max(1, batch_size)
        # More than 8 workers starve the model's thread of the GIL (EXIF parsing is Python): on a
        # 16-core machine with an H100, 16 workers indexed 185-204 photos/s where 8 managed 333.
        self.workers = workers or max(1, min(8, os.cpu_count() or 1))
        self.clock = clock
        # JPEGs decoded where the model runs: by default on a CUDA GPU (see engine/device_decode.py)
        self.device_decode = decodes_on_device(encoder) if device_decode is None else device_decode
        self._known: set[str] = set()
        # JPEGs handed to the device and not yet embedded. The device's decoder has a fixed rate (an
        # H100's JPEG engines decode about 590 twelve-megapixel photos/s alone), so once two batches
        # wait for it, the workers decode the next photos themselves: both sides stay busy (on an
        # H100 with 8 workers, 333 photos/s against 293 with every JPEG left to the GPU).
        self._device_lock = threading.Lock()
        self._on_device = 0

    def _prepare(self, photo_id: int, path: str) -> Prepared:
        if self.device_decode:
            with self._device_lock:
                take = self._on_device < DEVICE_QUEUE_BATCHES * self.batch_size
                self._on_device += take
            if take:
                prepared = prepare_header(photo_id, path, self.encoder, self._known)
                if prepared.jpeg is None:
                    self._device_done(1)
                return prepared
        return prepare_photo(photo_id, path, self.encoder, self._known)

    def _device_done(self, count: int) -> None:
        with self._device_lock:
            self._on_device -= count

    def _write(self, batch: list[Prepared], embedded: Embedded) -> None:
        hashes = {item.update.hash: item.phash for item in batch if item.update.hash and item.phash is not None}
        updates = [item.update for item in batch]
        write_batch(self.store, self.index, self.model_key, updates, embedded.vectors, hashes, embedded.grids)
        self._known.update(embedded.vectors)

    def run(
        self,
        items: Sequence[tuple[int, str]],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
    ) -> Progress:
        """Embed (photo id, path) items. Returns the final progress; `cancelled` if stopped early.

        `pause`, while set, holds the run between photos; `cancel` stops it after the batch in hand
        is saved.
        """
        self._known = self.store.vectors.known_hashes(self.model_key)
        self._on_device = 0
        meter = Meter(len(items), self.clock)
        batch: list[Prepared] = []
        pending: deque[Future[Prepared]] = deque()
        queue = iter(items)
        window = 2 * self.batch_size + self.workers * _PREFETCH_PER_WORKER
        embedding: tuple[list[Prepared], int, Future[Embedded]] | None = None

        def embed(batch: list[Prepared]) -> tuple[list[Prepared], int, Future[Embedded]]:
            on_device = sum(item.jpeg is not None for item in batch)
            return batch, on_device, model.submit(embed_batch, self.encoder, batch)

        def finish_embedding() -> None:
            """Wait for the batch in the model, save it and count it."""
            nonlocal embedding
            if embedding is not None:
                done, on_device, embedded = embedding[0], embedding[1], embedding[2].result()
                embedding = None
                self._device_done(on_device)
                self._write(done, embedded)
                meter.count([item.update for item in done])
                if progress:
                    progress(meter.progress(done[-1].path))

        with (
            ThreadPoolExecutor(self.workers, thread_name_prefix="decode") as pool,
            ThreadPoolExecutor(1, thread_name_prefix="embed") as model,
        ):

            def refill() -> None:
                while len(pending) < window:
                    item = next(queue, None)
                    if item is None:
                        return
                    pending.append(pool.submit(self._prepare, *item))

            refill()
            stopped = False
            while pending:
                if cancel is not None and cancel.is_set():
                    stopped = True
                    break
                while pause is not None and pause.is_set() and not (cancel and cancel.is_set()):
                    time.sleep(0.1)
                prepared = pending.popleft().result()
                refill()
                batch.append(prepared)
                if sum(p.needs_model for p in batch) >= self.batch_size or len(batch) >= 4 * self.batch_size:
                    submitted = embed(batch)
                    finish_embedding()  # the previous batch, saved while this one is embedded
                    embedding, batch = submitted, []
            for future in pending:
                future.cancel()
            finish_embedding()
            if batch:
                embedding = embed(batch)
                finish_embedding()
        state = meter.finished(stopped)
        if progress:
            progress(state)
        return state
