"""The public facade: a library directory of photo folders, their metadata and vectors.

The CLI and the desktop app both use only this class (and the dataclasses it returns).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

from . import tag_crops
from .calibration import Calibrator
from .cluster import ClusterConfig, ClusterIndexer
from .companions import merge_pairs, without_paired_raws
from .config import ModelSpec
from .duplicates import DuplicateGroup, DuplicateSettings, find_duplicates
from .errors import LibraryError, QueryError
from .indexer import Indexer, Progress, ProgressCallback
from .ocr import OcrConfig, OcrPass, OcrProgress, TextReader
from .paths import is_inside, is_under
from .photo_table import PhotoTable, PhotoTables
from .photos import is_photo_path
from .scanner import ScanDiff, diff_folder, walk_photos
from .search import (
    SORTS,
    Hit,
    Pool,
    Query,
    Request,
    Results,
    Stage,
    candidates,
    check_folder,
    make_request,
    run,
)
from .stages import DateStage, FeedbackStage, MeaningStage, NameStage
from .storage import PhotoRow, Store
from .storage.texts import PhotoText
from .tag_crops import CloseUpCheck
from .tag_windows import WindowScorer
from .tags import TagStage, matching_tag_texts, tag_texts, version_tag_crops, version_text_trusts
from .text_match import TextStage
from .text_vectors import KeptTexts
from .vector_index import VectorIndex

if TYPE_CHECKING:  # loaded on first use: status, tags and folder edits never import torch
    import numpy as np

    from .encoder import Encoder

log = logging.getLogger(__name__)

DB_NAME = "library.db"
INDEX_NAME = "vectors.hnsw"
TAG_FITS_NAME = "tag-fits"  # the tag stage's fits, kept between processes (engine/tag_fits.py)
CLOSE_UPS_NAME = "close-ups"  # the tags' crops made by look_closer, a file per search model
# Text queries lie off the distribution of the photo vectors the graph was built on, where a wider
# search pays: at 100k vectors ef 256 costs 2.5 ms a query (benchmarks/search_latency.py), next to
# 35 ms for encoding the text.
SEARCH_EF = 256
# Rebuild the graph when this share of its entries are tombstones (hnswlib only marks deletions).
REBUILD_DELETED_FRACTION = 0.3
# Vectors, tags and highlights of photos that left are kept this long (seconds), so a drive that
# returns or a folder moved back is not embedded again; `compact()` drops them at once.
ORPHAN_GRACE = 30 * 24 * 3600.0


@dataclass(frozen=True)
class FolderStatus:
    path: str
    photos: int
    available: bool
    unavailable: tuple[str, ...] = ()  # parts that could not be read at the last scan (kept, offline)


@dataclass(frozen=True)
class Failure:
    path: str
    reason: str


@dataclass(frozen=True)
class Status:
    photos: int  # indexed with the library's model
    failed: int
    pending: int
    total: int
    model: str
    target_model: str | None  # set while the library is being re-embedded with another model
    folders: list[FolderStatus]
    failures: list[Failure]
    damaged: list[Failure] = field(default_factory=list)  # indexed, but partly damaged: how

    def to_json(self) -> dict:
        return {
            "photos": self.photos,
            "failed": self.failed,
            "pending": self.pending,
            "total": self.total,
            "model": self.model,
            "target_model": self.target_model,
            "folders": [f.path for f in self.folders],
            "folder_status": [f.__dict__ for f in self.folders],
            "failures": [{"path": f.path, "reason": f.reason} for f in self.failures],
            "damaged": [{"path": f.path, "reason": f.reason} for f in self.damaged],
        }


def _spec_to_json(spec: ModelSpec) -> str:
    return json.dumps({"name": spec.name, "pretrained": spec.pretrained})


def _spec_from_json(text: str) -> ModelSpec:
    data = json.loads(text)
    return ModelSpec(data["name"], data.get("pretrained"))


class Library:
    """Photo folders, their metadata and vectors, and search over them.

    The model is loaded lazily (status and folder edits never need it). `encoder` and `text_reader`
    (the OCR engine) may be injected, for tests or to share one model between libraries.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        model: ModelSpec | None = None,
        device: str = "auto",
        batch_size: int = 32,
        encoder: Encoder | None = None,
        text_reader: TextReader | None = None,
        precision: str | None = None,
    ):
        self.path = Path(path).expanduser()
        if self.path.exists() and not self.path.is_dir():
            raise LibraryError(f"The library must be a folder, and {self.path} is a file.")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LibraryError(f"Cannot create the library folder {self.path}: {e.strerror or e}") from e
        self.store = _open_store(self.path / DB_NAME)
        self.device = device
        self.batch_size = batch_size
        self._encoders: dict[str, Encoder] = {}
        self._text_queries: dict[str, object | None] = {}  # runtime.TextQuery by model key
        self._kept_texts: dict[str, KeptTexts] = {}  # calibration texts of a runtime graph, by model key
        if encoder is not None:
            self._encoders[encoder.spec.key] = encoder
        self._index: VectorIndex | None = None
        self._text_reader = text_reader  # injected: shared, never closed here
        self._own_reader: TextReader | None = None
        self._unavailable: dict[str, tuple[str, ...]] = {}  # folder -> parts unreadable at the last scan
        self._search_parts: tuple[str, PhotoTables, Calibrator, list[Stage]] | None = None
        self._last_search: str | None = None
        self._lock = threading.RLock()  # guards lazy loading of encoders and the index
        if precision is not None:
            self.set_precision(precision)
        stored = self.store.settings.get("model")
        if stored is None:
            spec = model or (encoder.spec if encoder else ModelSpec())
            self.store.settings.set("model", _spec_to_json(spec))
        elif model is not None and model.key != _spec_from_json(stored).key:
            self.set_model(model)

    # -- models ------------------------------------------------------------------------------

    @property
    def model(self) -> ModelSpec:
        """The model whose vectors answer searches."""
        return _spec_from_json(self.store.settings.get("model") or _spec_to_json(ModelSpec()))

    @property
    def target_model(self) -> ModelSpec:
        """The model new vectors are made with: the search model, or the one being switched to."""
        target = self.store.settings.get("target_model")
        return _spec_from_json(target) if target else self.model

    @property
    def precision(self) -> str | None:
        """The runtime precision setting (auto, fp32, bf16, int8, torch); None: the default (auto)."""
        return self.store.settings.get("precision")

    def set_precision(self, precision: str) -> None:
        """Choose the inference precision for this library's models (takes effect on the next load).
        Vectors of one model at different precisions agree (checked at export), so they may mix."""
        from .runtime import PRECISIONS

        if precision not in PRECISIONS:
            raise LibraryError(f"Unknown precision '{precision}'; choose one of {', '.join(PRECISIONS)}.")
        if precision != self.precision:
            self.store.settings.set("precision", precision)
            with self._lock:
                self._encoders.clear()
                self._text_queries.clear()
                self._kept_texts.clear()

    def set_model(self, spec: ModelSpec, *, at_once: bool = False) -> None:
        """Switch models. Photos are re-embedded by the next `index()` (resumably); until that is
        complete, searches keep using the old model's vectors. With `at_once` (the old model cannot
        be loaded anyway), `spec` answers searches now and the old vectors are dropped."""
        if at_once and spec.key != self.model.key:
            self._make_search_model(_spec_to_json(spec))
        elif spec.key == self.model.key:
            self.store.settings.set("target_model", None)
        else:
            self.store.settings.set("target_model", _spec_to_json(spec))

    def encoder(
        self, spec: ModelSpec | None = None, progress: Callable[[int, int], None] | None = None
    ) -> Encoder:
        """The loaded model of `spec` (default: the search model), loading it once.
        `progress(done_bytes, total_bytes)` reports a weights download."""
        spec = spec or self.model
        with self._lock:
            if spec.key not in self._encoders:
                from .encoder import Encoder

                self._encoders[spec.key] = Encoder.load(
                    spec, self.device, progress=progress, precision=self.precision
                )
            return self._encoders[spec.key]

    def text_encoder(self) -> Encoder:
        """What turns the search model's texts into vectors: its cached runtime text graph with the
        torch-free tokenizer when there is one (a text search then never imports torch), else the
        full encoder. Anything beyond texts is handed to the full encoder, loaded on first use."""
        spec = self.model
        with self._lock:
            if spec.key in self._encoders:
                return self._encoders[spec.key]
            if spec.key not in self._text_queries:
                from . import runtime
                from .config import default_cache_dir

                quick = None
                if runtime.available() and self.device in ("auto", "cpu"):
                    precision = runtime.resolve_precision(self.precision)
                    folder = runtime.graph_dir(default_cache_dir(), spec.cache_key)
                    quick = runtime.text_query(folder, precision, lambda: self.encoder(spec))
                    if quick is not None:
                        # Only beside an exported graph: like the graph, the file is kept per model key.
                        self._kept_texts[spec.key] = KeptTexts(folder / "texts.npz", quick.encode_texts)
                self._text_queries[spec.key] = quick
            found = self._text_queries[spec.key]
        # Duck-typed: it has encode_texts and dim, and forwards everything else to the encoder.
        return cast("Encoder", found) if found is not None else self.encoder(spec)

    def switch_text_side(self, spec: ModelSpec) -> None:
        """Switch at once to a model with the same image tower as the current one (a text-side
        fine-tune, or a rollback from one): the photo vectors and the index stay as they are."""
        old = self.model.key
        with self.store.transaction():  # one change: a kill leaves the old model or the new one
            self.store.vectors.relabel(old, spec.key)
            self.store.settings.set("model", _spec_to_json(spec))
            self.store.settings.set("target_model", None)
        with self._lock:
            self._encoders.pop(old, None)

    def _finish_model_switch(self) -> None:
        target = self.store.settings.get("target_model")
        if not target or self.store.photos.counts(self.target_model.key)["pending"]:
            return
        self._make_search_model(target)

    def _make_search_model(self, spec_json: str) -> None:
        old = self.model.key
        with self.store.transaction():  # one change: a kill leaves the old model or the new one
            self.store.settings.set("model", spec_json)
            self.store.settings.set("target_model", None)
            self.store.vectors.keep_only(_spec_from_json(spec_json).key)
        with self._lock:
            self._encoders.pop(old, None)
            self._index = None
            # The old model's graph; were it left by a kill, the next load would repair it anyway.
            (self.path / INDEX_NAME).unlink(missing_ok=True)
        log.info("switched the library to %s", self.model.key)

    # -- the vector index --------------------------------------------------------------------

    def _dim(self) -> int | None:
        return self.store.vectors.dim(self.model.key)

    @property
    def vector_index(self) -> VectorIndex:
        """The search model's index: loaded from its file and repaired against the store (the file
        may be stale after a crash), or rebuilt from the store when missing or unusable."""
        with self._lock:
            if self._index is None:
                dim = self._dim() or self.encoder().dim
                loaded = VectorIndex.load(self.path / INDEX_NAME, dim, ef_search=SEARCH_EF)
                self._index = loaded if loaded is not None else VectorIndex(dim, ef_search=SEARCH_EF)
                changed = self._sync_index(self._index)
                if self._index.deleted_fraction > REBUILD_DELETED_FRACTION:
                    self._index = self._rebuild_index(dim)
                if changed or loaded is None:
                    self.save_index()
            return self._index

    def _sync_index(self, index: VectorIndex) -> bool:
        truth = self.store.vectors.labels(self.model.key)
        added, removed = index.sync(truth, lambda labels: self.store.vectors.by_label(labels, index.dim))
        return bool(added or removed)

    def _rebuild_index(self, dim: int) -> VectorIndex:
        labels = sorted(self.store.vectors.labels(self.model.key))
        return VectorIndex.build(labels, self.store.vectors.by_label(labels, dim), dim, ef_search=SEARCH_EF)

    def save_index(self) -> None:
        with self._lock:
            if self._index is not None:
                try:
                    self._index.save(self.path / INDEX_NAME)
                except OSError as e:  # e.g. a full disk: the store still has every vector
                    log.warning("could not save the index (it will be rebuilt): %s", e)

    def refresh(self) -> bool:
        """Bring the in-memory index up to date with the store (photos that left, another process's
        writes). Returns whether anything changed."""
        with self._lock:
            return self._index is not None and self._sync_index(self._index)

    # -- folders -----------------------------------------------------------------------------

    def folders(self) -> list[str]:
        return self.store.photos.folders()

    def add_folders(self, paths: Iterable[str | os.PathLike]) -> list[str]:
        """Add folders (absolute paths are stored). A folder inside one already in the library is
        covered by it; a folder containing library folders takes their photos over."""
        folders = []
        for raw in paths:
            # The path as the user gave it, a symlink kept: photos are shown under it.
            folder = os.path.abspath(os.path.expanduser(os.fspath(raw)))
            if not os.path.isdir(folder):
                kind = "not a folder" if os.path.exists(folder) else "no such folder"
                raise LibraryError(f"Cannot add {raw}: {kind}.")
            folders.append(folder)
        added: list[str] = []
        with self.store.transaction():  # all or none
            for folder in folders:
                existing = self.store.photos.folders()
                real = os.path.realpath(folder)
                if any(is_under(folder, f) or is_under(real, os.path.realpath(f)) for f in existing):
                    continue  # already covered, directly or through a link
                self.store.photos.add_folder(folder, children=[f for f in existing if is_inside(f, folder)])
                added.append(folder)
        return added

    def remove_folder(self, path: str | os.PathLike) -> None:
        """Forget a folder and its photos. The photos themselves are never touched."""
        folder = os.path.abspath(os.path.expanduser(os.fspath(path)))
        if folder not in self.store.photos.folders():
            raise LibraryError(f"{folder} is not one of the library's folders.")
        self.store.photos.remove_folder(folder)
        if self.refresh():
            self.save_index()

    # -- indexing ----------------------------------------------------------------------------

    def scan(self, folders: Iterable[str] | None = None) -> list[ScanDiff]:
        """Compare folders on disk with the library and record what is new, changed or gone.

        A folder that is not there (an unplugged drive) is left as it is: nothing is forgotten.
        """
        diffs = []
        for folder in folders or self.store.photos.folders():
            if not os.path.isdir(folder):
                log.warning("folder %s is not available; keeping its photos", folder)
                continue
            diffs.append(diff_folder(folder, self.store.photos.stats(folder)))
            self._unavailable[folder] = tuple(diffs[-1].unavailable)
        with self.store.transaction():  # the scan's results land together
            for diff in diffs:
                if not diff.empty:
                    self.store.photos.apply_scan(diff.folder, diff.new, diff.changed, diff.gone)
        return diffs

    def index(
        self,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        pause: threading.Event | None = None,
        *,
        scan: bool = True,
        cluster: ClusterConfig | None = None,
    ) -> Progress:
        """Scan the folders, then embed every pending photo, here or on a Ray `cluster`. Safe to
        interrupt at any moment."""
        if progress:
            progress(Progress("scanning"))
        if scan:
            self.scan()
        target = self.target_model
        pending = self.store.photos.pending(target.key)
        switching = target.key != self.model.key
        if not pending:
            result = Progress("done")
        else:
            encoder = self.encoder(target)
            index = VectorIndex(encoder.dim) if switching else self.vector_index
            indexer: Indexer | ClusterIndexer
            if cluster is None:
                indexer = Indexer(self.store, encoder, index, target.key, batch_size=self.batch_size)
            else:  # Ray is imported only now
                indexer = ClusterIndexer(
                    self.store, encoder, index, target.key, cluster, batch_size=self.batch_size
                )
            result = indexer.run(pending, progress, cancel, pause)
        if switching:
            self._finish_model_switch()
        changed = result.done > 0
        if not result.cancelled:
            if scan:  # renames were matched by now: what nobody refers to for long can go
                self.store.forget_orphans(ORPHAN_GRACE)
            changed = self.refresh() or changed
        if changed:
            self.save_index()
        if progress and not pending:
            progress(result)
        return result

    def update_paths(
        self,
        changed: Iterable[str],
        deleted: Iterable[str],
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> Progress:
        """Apply file-system events without a full rescan: forget deleted files and folders, record
        created or modified files (and the contents of folders moved in), then embed what is new.
        A moved file keeps its vector: its new path is matched by content hash."""
        folders = self.store.photos.folders()
        gone = [p for p in deleted if not os.path.exists(p)]
        if gone:
            self.store.photos.delete_under(gone)
        for folder in folders:
            paths = {p for p in changed if is_inside(p, folder)}
            if not paths:
                continue
            known = self.store.photos.stats_for(paths)
            new, updated = [], []
            for path in paths:
                found = walk_photos(path) if os.path.isdir(path) else _stat_photo(path)
                for file, size, mtime in found:
                    row = known.get(file) or self.store.photos.stats_for([file]).get(file)
                    if row is None:
                        new.append((file, size, mtime))
                    elif (row[1], row[2]) != (size, mtime):
                        updated.append((row[0], size, mtime))
            if new or updated:
                self.store.photos.apply_scan(folder, new, updated, [])
        return self.index(progress, cancel, scan=False)

    # -- text in photos ----------------------------------------------------------------------

    def read_text(
        self,
        config: OcrConfig = OcrConfig(),
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> OcrProgress:
        """The OCR pass (engine/ocr.py): read the text in embedded photos whose text is not known
        yet. Run it after `index()`; it resumes where a stopped pass left off."""
        if config.mode == "off":
            return OcrProgress("done")
        encode_texts = self.encoder().encode_texts if config.gate == "vector" else None
        with self._lock:
            reader = self._text_reader or self._own_reader
            if reader is None or reader.gate_side != config.gate_side:
                if self._own_reader is not None:
                    self._own_reader.close()
                reader = self._own_reader = TextReader(gate_side=config.gate_side, threads=config.threads)
        ocr = OcrPass(self.store, reader, self.model.key, config, encode_texts=encode_texts)
        return ocr.run(progress=progress, cancel=cancel)

    def photo_text(self, path: str | os.PathLike) -> PhotoText | None:
        """The text read in a photo of the library, None when it has not been read (yet)."""
        photo = self.store.photos.by_path(os.path.abspath(os.fspath(path)))
        if photo is None or photo.hash is None:
            return None
        return self.store.texts.get(photo.hash)

    # -- browsing and search -----------------------------------------------------------------

    def photos(
        self,
        folder: str | None = None,
        *,
        after: float | None = None,
        before: float | None = None,
        limit: int | None = None,
    ) -> list[PhotoRow]:
        """Readable photos, newest first (taken-at, else file time), indexed or not: browsing needs
        no model. A RAW+JPEG shot shows as its JPEG."""
        if folder is not None:
            folder = check_folder(folder, self.folders())
        return without_paired_raws(self.store.photos.newest_first(folder, after, before, limit))

    # -- search ------------------------------------------------------------------------------

    def search(self, query: Query) -> list[Hit]:
        """Up to query.k hits: the matches in the query's order, then the weaker ones by relevance."""
        return self.find(query).hits

    def find(self, query: Query) -> Results:
        """The search pipeline (engine/search.py): hits with relevance, and how many photos match.
        An empty library answers with no hits."""
        if query.empty:
            raise QueryError("Nothing to search for: give a text, an image, or both.")
        if query.sort not in SORTS:
            raise QueryError(f"Unknown sort {query.sort!r}: choose one of {', '.join(SORTS)}.")
        if query.folder is not None:
            query = replace(query, folder=check_folder(query.folder, self.folders()))
        asked = self._request(query)
        if asked is None:
            return Results([], 0, 0)
        request, pool, stages = asked
        results = run(request, pool, stages, self.store)
        if request.kind == "text" and request.text:
            self._remember(request.text)
        # A RAW+JPEG shot is one result: the JPEG, with the RAW listed (engine/companions.py).
        hits = merge_pairs(results.hits, lambda paths: self.store.photos.stats_for(paths).keys(), self.store.photos.by_path)
        return replace(results, hits=hits)

    def _request(self, query: Query) -> tuple[Request, Pool, list[Stage]] | None:
        """The query's request, its candidate photos and the pipeline's stages; None in an empty library."""
        tables, calibrator, stages = self.search_parts()
        table = tables.current()
        if len(table) == 0:
            return None
        # Text queries through the cached runtime text graph when there is one (no torch import).
        encoder = self.text_encoder if not query.image else self.encoder
        request = make_request(query, encoder, self.model.key, table)
        # Above exact.EXACT_LIMIT photos the candidates come from the HNSW graph (engine/search.py).
        pool = candidates(request, table, self.store, graph=lambda: self.vector_index, screen=calibrator.screen)
        return request, pool, stages

    def prepare_tag(self, text: str) -> None:
        """Fit ahead what a query naming the tag `text` needs (its scorers, and the window cache's
        verdicts on the photos it ranks highest: about a second at ViT-B-32 sizes), so that the query
        answers at once. The app runs it in the background when a tag changes; it is not a search
        (nothing is remembered), and a tag no photo carries costs nothing."""
        asked = self._request(Query(text=text))
        if asked is not None:
            request, pool, stages = asked
            for stage in stages:
                if isinstance(stage, TagStage):
                    stage.evidence(request, pool)

    def look_closer(
        self,
        text: str,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> CloseUpCheck | None:
        """Look at the photos most like the tag `text` up close (engine/tag_crops.py): cut out
        where its object is in them, encode the cut-outs, measure on held-out tagged photos what
        the crops add, and mix them into the tag's searches from now on (kept in the library for
        this search model; crops the check finds clearly worse are kept at weight 0, so search
        ranks as before). About what indexing 300 photos at 13 places costs, once per change of
        the tag: the app does it in the background after a tag changes, `viewfinder tag` after
        tagging. None where `cancel` was set, or nothing could be cut out (fewer than 3 tagged
        photos with a highlight box or a located object: an earlier look is then dropped). Where
        neither the library's photos nor the tag's photos and boxes changed since the last look,
        that look stands (CloseUpCheck.unchanged).
        `progress(done, total)`: photos cut out."""
        stage, table = self.tag_stage()
        made_from = stage.tag_state(text, table)
        earlier = stage.close_ups.get(text)
        if earlier is not None and earlier.made_from == made_from:
            return CloseUpCheck((), (), earlier.weight, unchanged=True)
        cuts = None
        if len(self.store.tags.hashes_with([text])) >= 3:
            cuts = tag_crops.cut_out(stage, table, text, self.encoder(), progress=progress, cancel=cancel)
        if cancel is not None and cancel.is_set():
            return None
        if cuts is None:
            if earlier is not None:
                stage.keep_close_ups(text, None)
            return None
        check = tag_crops.held_out_check(stage, table, text, cuts)
        crops = replace(cuts.crops(), made_from=made_from)
        if check.clearly_worse:
            crops = replace(crops, weight=0.0)
        stage.keep_close_ups(text, crops)
        self.prepare_tag(text)  # the check's folds took the tag's own fit's place in memory
        return replace(check, weight=crops.weight)

    def tags_not_looked_at(self) -> list[str]:
        """The tags of at least 3 photos that search sees up close neither by a closer look under the
        current search model nor by training's crops: tagged before looks were taken, under another
        model, with `--no-closer-look`, or whose look was stopped. The app looks at them in the
        background once the library has every photo's vector (the most tagged first)."""
        counts = {t: count for t, count in tag_texts(self.store).items() if count >= 3}
        if not counts:  # the search parts are not read for nothing
            return []
        stage, _ = self.tag_stage()
        return sorted((t for t in counts if stage.crops_of(t) is None), key=lambda t: (-counts[t], t))

    def _remember(self, text: str) -> None:
        """Keep a search text as a past search (calibration's rivals). The same text twice in a row
        (a re-sort, new marks) is written once; a library that cannot be written to, or is busy,
        keeps its history as it was: the search itself never fails for it."""
        if self.store.read_only or text == self._last_search:
            return
        try:
            if self.store.queries.record(text):
                self._last_search = text
        except LibraryError as e:
            log.info("search history not saved: %s", e)

    def _calibration_texts(self, texts: list[str]) -> np.ndarray:
        """The vectors of calibration's texts (its bank, the user's vocabulary, past searches): read
        from the file kept beside the runtime graph where there is one, so that a cold search does
        not encode them all again."""
        encoder = self.text_encoder()
        kept = self._kept_texts.get(self.model.key)
        return kept(texts) if kept is not None else encoder.encode_texts(texts)

    def tag_windows(self, text: str) -> dict[str, WindowScorer]:
        """Tag text -> its window cache (TagStage.window_scorer), for the one-word tags `text` names
        that search gives a window cache: the heatmaps of those words show where it finds the
        tagged object (compute_heatmap's `tags`)."""
        stage, table = self.tag_stage()
        names = [t for t in matching_tag_texts(self.store, text) if len(t.split()) == 1]
        scorers = {name: stage.window_scorer(name, table) for name in names}
        return {name: scorer for name, scorer in scorers.items() if scorer is not None}

    def tag_stage(self) -> tuple[TagStage, PhotoTable]:
        """The search pipeline's tag stage, and the search model's photo table as it is now."""
        tables, _, stages = self.search_parts()
        return next(s for s in stages if isinstance(s, TagStage)), tables.current()

    def search_parts(self) -> tuple[PhotoTables, Calibrator, list[Stage]]:
        """The search model's photo table, calibrator and the pipeline's stages, made once per model.

        The stages, in order: meaning, tags, file names, folder names, dates, feedback, text in photos.
        """
        with self._lock:
            key = self.model.key
            if self._search_parts is None or self._search_parts[0] != key:
                calibrator = Calibrator(self._calibration_texts, rivals=self.store.queries.recent)
                stages: list[Stage] = [
                    MeaningStage(calibrator),
                    TagStage(
                        self.store,
                        calibrator,
                        held_out=version_text_trusts(self.store, self.path, self.model),
                        crops=version_tag_crops(self.store, self.path, self.model),
                        model=key,
                        folder=None if self.store.read_only else self.path / TAG_FITS_NAME,
                        close_ups=None if self.store.read_only else self._close_ups_file(key),
                    ),
                    NameStage.of_files(),
                    NameStage.of_folders(self.folders),
                    NameStage.of_cameras(self.store.photos.cameras),
                    DateStage(),
                    FeedbackStage(calibrator),
                    TextStage(self.store.texts.all, self.store.texts.generation),
                ]
                self._search_parts = (key, PhotoTables(self.store, key), calibrator, stages)
            return self._search_parts[1:]

    def _close_ups_file(self, model_key: str) -> Path:
        digest = hashlib.sha1(model_key.encode(), usedforsecurity=False).hexdigest()[:16]
        return self.path / CLOSE_UPS_NAME / f"{digest}.npz"

    def duplicates(
        self,
        settings: DuplicateSettings | None = None,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> list[DuplicateGroup]:
        """Groups of duplicate and near-duplicate photos, the best copy first (engine/duplicates.py).
        Only lists: never modifies, moves or deletes a photo."""
        if self._dim() is None:
            return []
        return find_duplicates(
            self.store, self.vector_index, self.model.key, settings or DuplicateSettings(), progress, cancel
        )

    # -- status ------------------------------------------------------------------------------

    def status(self) -> Status:
        target = self.target_model
        counts = self.store.photos.counts(target.key)
        per_folder = self.store.photos.folder_counts()
        searchable = self.store.photos.counts(self.model.key)["photos"] if target.key != self.model.key else None
        return Status(
            photos=searchable if searchable is not None else counts["photos"],
            failed=counts["failed"],
            pending=counts["pending"],
            total=counts["total"],
            model=self.model.key,
            target_model=target.key if target.key != self.model.key else None,
            folders=[
                FolderStatus(f, per_folder.get(f, 0), os.path.isdir(f), self._unavailable.get(f, ()))
                for f in self.store.photos.folders()
            ],
            failures=[Failure(p, r) for p, r in self.store.photos.failures()],
            damaged=[Failure(p, r) for p, r in self.store.photos.damaged()],
        )

    @property
    def read_only(self) -> bool:
        """True when the library could only be opened for reading (a read-only folder): search and
        browsing work; changes raise ReadOnlyLibrary."""
        return self.store.read_only

    def compact(self) -> int:
        """Drop at once what is kept only in case photos come back (vectors, tags and highlights of
        photos no longer in the library), rebuild the index and give the space back. Returns how
        many vectors went."""
        dropped = self.store.forget_orphans(grace=0.0)
        with self._lock:
            dim = self._dim()
            if dim is not None:
                self._index = self._rebuild_index(dim)
                self.save_index()
        self.store.compact()
        return dropped

    def close(self) -> None:
        """Close the database. The index file was saved whenever it changed; a stale one is
        repaired on the next open anyway."""
        if self._own_reader is not None:
            self._own_reader.close()
        self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _writable(folder: Path) -> bool:
    """Whether files can be created in `folder` (a read-only mount or permissions say no)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _open_store(db: Path) -> Store:
    """The library's store, for writing when its folder allows it, else read-only (SQLite in WAL
    mode needs to create files beside the database even to read it)."""
    if _writable(db.parent) and (not db.exists() or os.access(db, os.W_OK)):
        return Store(db)
    if not db.exists():
        raise LibraryError(f"Cannot create a library in {db.parent}: the folder is read-only.")
    log.warning("the library at %s is read-only; opening it for search and browsing only", db.parent)
    return Store(db, read_only=True)


def _stat_photo(path: str) -> list[tuple[str, int, float]]:
    if not is_photo_path(path):
        return []
    try:
        st = os.stat(path)
    except OSError:
        return []
    return [(path, st.st_size, st.st_mtime)] if os.path.isfile(path) else []


__all__ = ["Library", "Status", "Failure", "FolderStatus", "Query", "Hit", "Results", "Progress", "walk_photos"]
