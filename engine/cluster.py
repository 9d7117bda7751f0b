"""Indexing on a Ray cluster: the scan and the store stay here, the reading, decoding and
embedding of pending photos run as a Ray Data pipeline on the cluster.

The pipeline takes batches of photos in and gives each batch's results (metadata, failures and
vectors by content hash) back. Model actors load the model once per worker, from the weights this
process has loaded, so the cluster needs no model download and makes the vectors the same model
makes here. Results are written as they stream back, one transaction per batch, by the same
function local indexing uses (`indexer.write_batch`): a killed driver, a lost worker or a dropped
connection costs at most the batches in flight, and the next run resumes.

Workers read a photo themselves when a path mapping says where they see it (a NAS mounted on
both sides); otherwise this process reads it and sends the bytes. Sent bytes go through the
cluster's object store, so they are sent in rounds of `ClusterConfig.round_bytes`.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import ModelSpec
from .errors import ClusterError, PhotoError
from .indexer import (
    Meter,
    Prepared,
    Progress,
    ProgressCallback,
    embed_batch,
    prepare_photo,
    read_photo_file,
    write_batch,
)
from .store import PhotoUpdate, Store
from .vector_index import VectorIndex

if TYPE_CHECKING:  # torch is imported only when a run starts
    from .encoder import Encoder

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'viewfinder[cluster]'"
PROBE_TIMEOUT = 10.0  # seconds to wait for a cluster's port to answer


@dataclass(frozen=True)
class ClusterConfig:
    """Where and how to run the pipeline.

    address: "ray://host:port" (Ray client), "auto" (the cluster running on this machine) or a
        cluster's "host:port".
    path_map: (local prefix, worker prefix) pairs: a photo under a local prefix is read by the
        workers at the worker prefix instead. Photos under no prefix are sent by this process.
    workers: model actors; default as many as the cluster has GPUs, else CPUs / cpus_per_worker.
    cpus_per_worker: CPUs each model actor reserves (fractions allowed); it decodes with as many
        threads, and its model runs on them when the cluster has no GPU. Default: 4, or the
        largest node's CPUs if fewer.
    gpu: run the model on GPUs (one per actor); None: when the cluster has them.
    round_bytes: the most photo bytes this process sends into the cluster at a time.
    """

    address: str
    path_map: tuple[tuple[str, str], ...] = ()
    workers: int | None = None
    cpus_per_worker: float | None = None
    gpu: bool | None = None
    round_bytes: int = 1 << 30


def parse_path_map(text: str) -> tuple[str, str]:
    """ "LOCAL=WORKER" -> (local prefix, worker prefix), both absolute."""
    local, sep, remote = text.partition("=")
    if not sep or not local or not remote:
        raise ClusterError(f"A path mapping is LOCAL=WORKER (e.g. /mnt/nas=/data/nas), not '{text}'.")
    local = os.path.abspath(os.path.expanduser(local))
    if not remote.startswith("/") and not (len(remote) > 2 and remote[1] == ":"):
        raise ClusterError(f"The worker side of '{text}' must be an absolute path.")
    return local, remote


def worker_path(path: str, path_map: Sequence[tuple[str, str]]) -> str | None:
    """Where the workers see `path`, by the longest matching prefix; None when they do not."""
    best: tuple[str, str] | None = None
    for local, remote in path_map:
        prefix = local.rstrip(os.sep)
        if (path == prefix or path.startswith(prefix + os.sep)) and (
            best is None or len(local) > len(best[0])
        ):
            best = (prefix, remote.rstrip("/\\"))
    if best is None:
        return None
    rest = path[len(best[0]) :].lstrip(os.sep)
    return f"{best[1]}/{rest.replace(os.sep, '/')}" if rest else best[1]


# -- what travels -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    """A batch of photos for the cluster: each read at its worker path, or sent as bytes."""

    ids: list[int]
    paths: list[str]  # as the library knows them: results and failures name these
    reads: list[str | None]  # where a worker reads each photo; None: its bytes are in `data`
    data: list[bytes | None]


@dataclass(frozen=True)
class _Result:
    updates: list[PhotoUpdate]
    vectors: dict[str, np.ndarray]
    unseen: list[tuple[int, str, str]] = field(default_factory=list)  # (id, path, worker path) not found
    grids: dict[str, np.ndarray] = field(default_factory=dict)  # patch grids (engine/storage/grids.py)


@dataclass(frozen=True)
class _Model:
    """What a worker needs to rebuild the driver's model: its open_clip config and its weights."""

    name: str  # an open_clip model name, or a JSON config's file name
    config: dict | None  # the JSON config, when the model is defined by one
    weights: Any  # ObjectRef of the weights as safetensors bytes


def _load_model(model: _Model, weights: bytes, device: str) -> Encoder:
    """The model built the way this machine builds it, from a checkpoint file of the driver's
    weights: whatever runtime Encoder.load sets up starts from the right weights."""
    from .encoder import Encoder

    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "weights.safetensors"
        checkpoint.write_bytes(weights)
        name = model.name
        if model.config is not None:
            name = str(Path(folder) / model.name)
            Path(name).write_text(json.dumps(model.config), encoding="utf-8")
        return Encoder.load(ModelSpec(name, str(checkpoint)), device)


class _Embedder:
    """A model actor: loads the model once, then reads, decodes and embeds batch after batch."""

    def __init__(self, model: _Model, device: str, known: Any, threads: int):
        import ray

        self.encoder = _load_model(model, ray.get(model.weights), device)
        self.known: frozenset[str] = ray.get(known)  # an ObjectRef: put once, shared by every actor
        self.pool = ThreadPoolExecutor(max(1, threads), thread_name_prefix="decode")

    def __call__(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [pickle.dumps(self._embed(pickle.loads(job))) for job in rows["job"]]
        return {"result": np.array(results, dtype=object)}

    def _embed(self, job: _Job) -> _Result:
        unseen: list[tuple[int, str, str]] = []

        def prepare(i: int) -> Prepared | None:
            photo_id, path, data = job.ids[i], job.paths[i], job.data[i]
            if data is None:
                read = job.reads[i] or path  # a job carries either a worker path or the bytes
                try:
                    data = read_photo_file(read)
                except PhotoError as e:
                    if not os.path.exists(read):  # this worker cannot see it; the driver decides why
                        unseen.append((photo_id, path, read))
                        return None
                    return Prepared(PhotoUpdate(photo_id, hash=None, error=e.reason), path)
            return prepare_photo(photo_id, path, self.encoder, self.known, data)

        prepared = [p for p in self.pool.map(prepare, range(len(job.ids))) if p is not None]
        embedded = embed_batch(self.encoder, prepared)
        return _Result([p.update for p in prepared], embedded.vectors, unseen, embedded.grids)


# -- the driver ---------------------------------------------------------------------------------


def _ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise ClusterError(
            f"Indexing on a cluster needs Ray, which is not installed: {INSTALL_HINT}"
        ) from None
    return ray


def require_ray() -> None:
    """Raise ClusterError, saying how to install it, when Ray is missing."""
    _ray()


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _connect(ray: Any, address: str) -> bool:
    """Connect to the cluster unless this process already is; True when this call connected."""
    if ray.is_initialized():
        return False
    if address.startswith("ray://"):
        try:
            import grpc  # noqa: F401  (Ray's client needs it; plain Ray does not install it)
        except ImportError:
            raise ClusterError(f"Connecting with ray:// needs Ray's client: {INSTALL_HINT}") from None
    address = _resolve_auto(address)
    _probe(address)
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False)
    except Exception as e:
        raise ClusterError(f"Cannot reach the Ray cluster at {address}: {_one_line(e)}") from e
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # progress and failures are ours to report
    ray.data.DataContext.get_current().enable_progress_bars = False
    return True


def _resolve_auto(address: str) -> str:
    """The host:port of the cluster running on this machine, for "auto". Ray 2.60's own "auto"
    connects, but then its actors die before they start (an explicit address works)."""
    if address != "auto":
        return address
    try:
        from ray._private.services import canonicalize_bootstrap_address_or_die
    except ImportError:  # a Ray without it: let ray.init resolve "auto" itself
        return address
    try:
        return str(canonicalize_bootstrap_address_or_die("auto"))
    except ConnectionError as e:
        raise ClusterError(f"No Ray cluster is running on this machine ({_one_line(e)})") from e


def _probe(address: str) -> None:
    """Fail at once when nothing listens at a host:port address (Ray itself retries for minutes)."""
    if address == "auto":
        return
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        raise ClusterError(f"A cluster address is ray://HOST:PORT, HOST:PORT or auto, not '{address}'.")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT).close()
    except OSError as e:
        raise ClusterError(f"Cannot reach the Ray cluster at {address}: {e.strerror or e}.") from e


@dataclass(frozen=True)
class _Plan:
    workers: int
    cpus: float
    gpus: float
    device: str


def _plan(ray: Any, config: ClusterConfig) -> _Plan:
    """How many model actors of which size, checked against what the cluster has."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    largest = max((n.get("CPU", 0.0) for n in nodes), default=0.0)
    gpus = sum(n.get("GPU", 0.0) for n in nodes)
    where = f"the Ray cluster at {config.address}"
    gpu = config.gpu if config.gpu is not None else gpus >= 1
    if gpu and gpus < 1:
        raise ClusterError(f"{where} has no GPU.")
    if largest <= 0:
        raise ClusterError(f"{where} has no CPUs for workers.")
    cpus = config.cpus_per_worker if config.cpus_per_worker is not None else min(4.0, largest)
    if cpus > largest:
        raise ClusterError(
            f"No node of {where} has {cpus:g} CPUs for a worker (the largest has {largest:g})."
        )
    total_cpus = sum(n.get("CPU", 0.0) for n in nodes)
    workers = config.workers or (int(gpus) if gpu else max(1, int(total_cpus // cpus)))
    return _Plan(workers, cpus, 1.0 if gpu else 0.0, "cuda" if gpu else "cpu")


def _ship_model(ray: Any, encoder: Encoder) -> _Model:
    """The driver's model as the workers rebuild it: config plus weights, put once into the cluster."""
    import torch
    from safetensors.torch import save

    weights = save(
        {
            k: (v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu())
            .contiguous()
            .clone()
            for k, v in encoder.model.state_dict().items()
        }
    )
    name = encoder.spec.name
    if name.endswith(".json"):
        config = json.loads(Path(name).expanduser().read_text(encoding="utf-8"))
        return _Model(Path(name).name, config, ray.put(weights))
    return _Model(name, None, ray.put(weights))


class ClusterIndexer:
    """Embeds pending photos on a Ray cluster; the same interface as `indexer.Indexer`."""

    def __init__(
        self,
        store: Store,
        encoder: Encoder,
        index: VectorIndex,
        model_key: str,
        config: ClusterConfig,
        *,
        batch_size: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.encoder = encoder
        self.index = index
        self.model_key = model_key
        self.config = config
        self.batch_size = max(1, batch_size)
        self.clock = clock

    def run(
        self,
        items: Sequence[tuple[int, str]],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
    ) -> Progress:
        """Embed (photo id, path) items on the cluster. Returns the final progress; `cancelled` if
        stopped early. Raises ClusterError when the cluster cannot be used or is lost mid-run
        (what was written by then stays written)."""
        ray = _ray()
        connected = _connect(ray, self.config.address)
        try:
            plan = _plan(ray, self.config)
            log.info("indexing on %s with %d workers (%s)", self.config.address, plan.workers, plan.device)
            model = _ship_model(ray, self.encoder)
            known = ray.put(frozenset(self.store.vectors.known_hashes(self.model_key)))
            meter = Meter(len(items), self.clock)
            stopped = False
            for jobs, failed in self._rounds(items):
                self._write(failed, {}, meter, progress)
                if jobs and self._run_round(ray, jobs, plan, model, known, meter, progress, cancel, pause):
                    stopped = True
                    break
                if cancel is not None and cancel.is_set():
                    stopped = True
                    break
        finally:
            if connected:
                ray.shutdown()
        state = meter.finished(stopped)
        if progress:
            progress(state)
        return state

    def _rounds(self, items: Sequence[tuple[int, str]]) -> Iterator[tuple[list[_Job], list[PhotoUpdate]]]:
        """Jobs of batch_size photos, in rounds of at most round_bytes of sent bytes, with the
        photos this process could not read to send."""
        jobs: list[_Job] = []
        failed: list[PhotoUpdate] = []
        sent = 0
        with ThreadPoolExecutor(4, thread_name_prefix="send") as pool:
            for start in range(0, len(items), self.batch_size):
                chunk = items[start : start + self.batch_size]
                reads = [worker_path(path, self.config.path_map) for _, path in chunk]
                data = list(
                    pool.map(
                        _read_or_reason,
                        [p if r is None else None for (_, p), r in zip(chunk, reads, strict=True)],
                    )
                )
                job = _Job([], [], [], [])
                for (photo_id, path), read, got in zip(chunk, reads, data, strict=True):
                    if isinstance(got, str):
                        failed.append(PhotoUpdate(photo_id, hash=None, error=got))
                        continue
                    job.ids.append(photo_id)
                    job.paths.append(path)
                    job.reads.append(read)
                    job.data.append(got)
                    sent += len(got or b"")
                if job.ids:
                    jobs.append(job)
                if sent >= self.config.round_bytes:
                    yield jobs, failed
                    jobs, failed, sent = [], [], 0
        yield jobs, failed

    def _run_round(
        self,
        ray: Any,
        jobs: list[_Job],
        plan: _Plan,
        model: _Model,
        known: Any,
        meter: Meter,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        pause: threading.Event | None,
    ) -> bool:
        """Run one round's jobs through the pipeline, writing each batch's results as it arrives.
        Returns True when cancelled."""
        # Jobs and results travel pickled: Arrow has no type for them.
        rows = [{"job": pickle.dumps(job)} for job in jobs]
        dataset = ray.data.from_items(rows, override_num_blocks=len(jobs))
        dataset = dataset.map_batches(
            _Embedder,
            batch_size=1,
            fn_constructor_kwargs={
                "model": model,
                "device": plan.device,
                "known": known,
                "threads": max(1, round(plan.cpus)),
            },
            compute=ray.data.ActorPoolStrategy(size=min(plan.workers, len(jobs))),
            num_cpus=plan.cpus,
            num_gpus=plan.gpus or None,
        )
        batches = iter(dataset.iter_batches(batch_size=None, batch_format="numpy"))
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    return True
                while pause is not None and pause.is_set() and not (cancel and cancel.is_set()):
                    time.sleep(0.1)
                try:
                    block = next(batches, None)
                except Exception as e:
                    raise ClusterError(
                        f"The cluster run stopped after {meter.done} photos ({_one_line(e)}); "
                        "run the same command again to resume."
                    ) from e
                if block is None:
                    return False
                for result in block["result"]:
                    self._write_result(pickle.loads(result), meter, progress)
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def _write_result(self, result: _Result, meter: Meter, progress: ProgressCallback | None) -> None:
        updates = list(result.updates)
        invisible = []
        for photo_id, path, read in result.unseen:
            if os.path.exists(path):
                invisible.append((path, read))
            else:
                updates.append(
                    PhotoUpdate(photo_id, hash=None, error="file vanished before it could be read")
                )
        self._write(updates, result.vectors, meter, progress, result.grids)
        if invisible:
            path, read = invisible[0]
            raise ClusterError(
                f"The workers cannot see {path} (they looked at {read}): check the path mapping."
            )

    def _write(
        self,
        updates: list[PhotoUpdate],
        vectors: dict[str, np.ndarray],
        meter: Meter,
        progress: ProgressCallback | None,
        grids: dict[str, np.ndarray] | None = None,
    ) -> None:
        if not updates:
            return
        write_batch(self.store, self.index, self.model_key, updates, vectors, grids=grids)
        meter.count(updates)
        if progress:
            progress(meter.progress(None))


def _read_or_reason(path: str | None) -> bytes | str | None:
    """The bytes of a photo to send, the reason it cannot be read, or None when nothing is sent."""
    if path is None:
        return None
    try:
        return read_photo_file(path)
    except PhotoError as e:
        return e.reason
