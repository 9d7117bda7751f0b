"""The training run: tagged photos -> a tuned model version, measured before and after on held-out
tags, switched on only when it did not get worse.

    result = train(library, TrainConfig(loss="sigmoid"), progress=print, cancel=event)

Steps: load tags and split off held-out photos; compute the fixed features (stored photo vectors
for text-side tuning: nothing is re-embedded); fit; evaluate base and tuned (mixed at `mix`) on
the held-out tags and on generic prompts (to catch forgetting); store the version; activate it
when it is at least as good (or `force`).
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from engine.encoder import Encoder
from engine.errors import ViewfinderError
from engine.library import Library

from . import versions
from .data import (
    MIN_DISTINCT_TAGS,
    MIN_TAGGED_PHOTOS,
    TaggedPhoto,
    check_enough,
    highlight_grid,
    load_pixels,
    load_tagged_photos,
    photo_paths,
    phrase_positions,
    sample_hashes,
    split_held_out,
    stored_vectors,
)
from .losses import SigmoidContrastiveLoss, SoftmaxContrastiveLoss, TokenContrastiveLoss, highlight_loss
from .tuning import TUNE_MODES, TextSide, image_features, make_trainable, merge_lora, weight_deltas

log = logging.getLogger(__name__)

LOSSES = ("sigmoid", "softmax")
# Forgetting check: how a tuned model ranks the library for everyday queries unrelated to the tags.
GENERIC_PROMPTS = (
    "a photo of a dog", "a photo of a cat", "a car on a street", "a beach with the sea", "mountains",
    "a city at night", "food on a plate", "a group of people", "a flower", "a tree in a park",
    "a building", "a sunset", "a bird", "a baby", "snow", "a boat on water", "a computer",
    "a book", "a bicycle", "a river",
)  # fmt: skip
_DEFAULT_LR = {"text": 1e-4, "lora": 1e-4, "full": 1e-5}
_MAX_TEXTS_PER_STEP = 64


class TrainingError(ViewfinderError):
    """Training cannot run as asked."""


@dataclass(frozen=True)
class TrainConfig:
    """One training run. `learning_rate` None picks a per-mode default."""

    loss: str = "sigmoid"
    token_loss: bool = False
    tune: str = "text"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float | None = None
    text_blocks: int = 2  # "text": how many of the last text blocks learn
    lora_rank: int = 8
    mix: float = 1.0  # WiSE-FT weight of the tuned model, 0..1; changeable later
    highlight_weight: float = 1.0
    held_out_fraction: float = 0.2
    recall_k: int = 10
    min_agreement: float = 0.5  # share of generic-prompt top results a tuned model must keep
    min_photos: int = MIN_TAGGED_PHOTOS
    min_tags: int = MIN_DISTINCT_TAGS
    gallery_limit: int = 300  # untagged photos embedded to evaluate image-tower tuning
    force: bool = False  # activate even when the held-out check says the model got worse
    seed: int = 0

    def check(self) -> None:
        if self.loss not in LOSSES:
            raise TrainingError(f"Unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}.")
        if self.tune not in TUNE_MODES:
            raise TrainingError(f"Unknown tuning mode {self.tune!r}; choose one of {', '.join(TUNE_MODES)}.")
        if self.epochs < 1 or self.batch_size < 2:
            raise TrainingError("Training needs at least 1 epoch and a batch size of at least 2.")
        versions.check_mix(self.mix)

    @property
    def lr(self) -> float:
        return self.learning_rate if self.learning_rate is not None else _DEFAULT_LR[self.tune]


@dataclass(frozen=True)
class TrainProgress:
    """Where a run stands: phase is preparing, training, evaluating, saving or done."""

    phase: str
    step: int = 0
    total: int = 0
    loss: float | None = None
    elapsed: float = 0.0
    eta: float | None = None  # seconds left in this phase, when known


TrainProgressCallback = Callable[[TrainProgress], None]


@dataclass(frozen=True)
class Metrics:
    """Held-out quality of one model. rank: 1 + photos without the tag scoring above the photo."""

    recall_at_k: float
    mean_rank: float
    k: int
    pairs: int
    gallery: int
    agreement: float  # mean top-k overlap with the base model on generic prompts (1.0 for the base)

    def to_json(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def not_worse_than(self, other: Metrics, min_agreement: float) -> bool:
        if self.agreement < min_agreement or self.recall_at_k < other.recall_at_k - 1e-9:
            return False
        return self.recall_at_k > other.recall_at_k + 1e-9 or self.mean_rank <= other.mean_rank + 1e-9


@dataclass(frozen=True)
class TrainResult:
    version: int | None
    before: Metrics
    after: Metrics
    activated: bool
    reembedding: bool = False  # the new model needs `index()` to re-embed the photos
    cancelled: bool = False
    seconds: float = 0.0
    steps: int = 0
    losses: tuple[float, ...] = field(default=(), repr=False)

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "activated": self.activated,
            "reembedding": self.reembedding,
            "cancelled": self.cancelled,
            "seconds": round(self.seconds, 3),
            "steps": self.steps,
        }


@dataclass
class FitData:
    """Everything the loop needs, indexed by training photo."""

    texts: list[str]
    ids: Tensor  # (M, context) token ids of `texts`
    eot: Tensor  # (M,) end-of-text positions
    photo_texts: list[list[int]]  # per photo: indices of its texts
    vectors: Tensor | None  # (N, D) fixed image vectors ("text" tuning)
    patches: Tensor | None  # (N, P, D) fixed patch vectors ("text" tuning with token loss)
    pixels: Tensor | None  # (N, 3, H, W) model inputs (image-tower tuning)
    highlights: list[
        list[tuple[int, list[int], Tensor]]
    ]  # per photo: (text index, token positions, grid mask)


FitReport = Callable[[int, int, float], None]
Fit = Callable[[nn.Module, FitData, TrainConfig, FitReport, "threading.Event | None"], bool]


def pool_positions(model: Any, ids: Tensor) -> Tensor:
    """End-of-text positions, as open_clip pools them."""
    if getattr(model, "text_pool_type", "argmax") == "eos":
        return (ids == model.text_eos_id).int().argmax(dim=-1)
    return ids.argmax(dim=-1)


def fit(
    model: nn.Module,
    data: FitData,
    config: TrainConfig,
    report: FitReport,
    cancel: threading.Event | None = None,
) -> bool:
    """Train `model` in place on `data`; returns False when cancelled (the model is then partial)."""
    torch.manual_seed(config.seed)
    params = make_trainable(model, config.tune, text_blocks=config.text_blocks, lora_rank=config.lora_rank)
    text_side = TextSide(model, data.ids, data.eot)
    n = len(data.photo_texts)
    batch = min(config.batch_size, n)
    hint = max(2, min(len(data.texts), _MAX_TEXTS_PER_STEP))

    def make_loss() -> nn.Module:
        if config.loss == "sigmoid":
            return SigmoidContrastiveLoss(batch_size_hint=hint)
        return SoftmaxContrastiveLoss()

    global_loss = make_loss()
    token_loss = TokenContrastiveLoss(make_loss()) if config.token_loss else None
    modules = [global_loss] + ([token_loss] if token_loss is not None else [])
    optimiser = torch.optim.AdamW(
        params + [p for m in modules for p in m.parameters()], lr=config.lr, weight_decay=0.0
    )
    rng = np.random.default_rng(config.seed)
    steps_per_epoch = math.ceil(n / batch)
    total = config.epochs * steps_per_epoch
    step = 0
    for _ in range(config.epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            if cancel is not None and cancel.is_set():
                return False
            chosen = order[start : start + batch]
            if len(chosen) < 2:
                continue
            loss = _step_loss(model, data, config, text_side, chosen, rng, global_loss, token_loss)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            report(step, total, float(loss.detach()))
    return True


def _step_loss(
    model: nn.Module,
    data: FitData,
    config: TrainConfig,
    text_side: TextSide,
    chosen: np.ndarray,
    rng: np.random.Generator,
    global_loss: nn.Module,
    token_loss: nn.Module | None,
) -> Tensor:
    own = sorted({t for i in chosen for t in data.photo_texts[i]})
    others = [t for t in range(len(data.texts)) if t not in set(own)]
    room = max(0, _MAX_TEXTS_PER_STEP - len(own))
    if len(others) > room:
        others = sorted(rng.choice(others, size=room, replace=False).tolist())
    text_ids = own + others
    column = {t: j for j, t in enumerate(text_ids)}
    pooled, tokens, mask = text_side.features(torch.tensor(text_ids))
    positives = torch.zeros((len(chosen), len(text_ids)), dtype=torch.bool)
    for row, i in enumerate(chosen):
        for t in data.photo_texts[i]:
            positives[row, column[t]] = True
    index = torch.as_tensor(chosen)
    if data.pixels is not None:
        vectors, patches = image_features(model, data.pixels[index], tokens=token_loss is not None)
    else:
        assert data.vectors is not None
        vectors = data.vectors[index]
        patches = data.patches[index] if data.patches is not None else None
    loss = global_loss(vectors, pooled, positives)
    if token_loss is not None and patches is not None:
        loss = loss + token_loss(patches, tokens, mask, positives)
        rows, words, masks = [], [], []
        for row, i in enumerate(chosen):
            for t, positions, grid in data.highlights[i]:
                rows.append(row)
                words.append(tokens[column[t], positions].mean(dim=0))
                masks.append(grid)
        if rows:
            word_vectors = torch.nn.functional.normalize(torch.stack(words), dim=-1)
            target = highlight_loss(patches[torch.tensor(rows)], word_vectors, torch.stack(masks))
            loss = loss + config.highlight_weight * target
    return loss


# -- the run -------------------------------------------------------------------------------------


@dataclass
class _Gallery:
    hashes: list[str]
    vectors: np.ndarray  # base model's photo vectors, (G, D)
    pixels: Tensor | None  # when the image tower is tuned: to embed the gallery with the tuned model


def train(
    library: Library,
    config: TrainConfig = TrainConfig(),
    progress: TrainProgressCallback | None = None,
    cancel: threading.Event | None = None,
    *,
    fit: Fit = fit,
) -> TrainResult:
    """Fine-tune on the library's tags; store a version; activate it when it is no worse.

    Raises NotEnoughTags (too few tags) or TrainingError. `fit` is injectable (tests).
    """
    config.check()
    began = time.monotonic()
    report = progress or (lambda p: None)
    report(TrainProgress("preparing"))
    photos = load_tagged_photos(library.store)
    check_enough(photos, config.min_photos, config.min_tags)
    base = versions.training_base(library)
    encoder = library.encoder(base)
    train_photos, held = split_held_out(photos, config.held_out_fraction, config.seed)
    if not held:
        raise TrainingError("No tag has enough photos to hold some out for the before/after check.")

    use_stored = config.tune == "text" and versions.image_identity(library, library.model) == base.key
    gallery = _gallery(library, encoder, photos, config, use_stored)
    texts = sorted({t for p in train_photos for t in p.texts})
    data, train_photos = _fit_data(library, encoder, train_photos, texts, gallery, config)
    if len(train_photos) < 2:
        raise TrainingError("Too few tagged photos could be read to train on.")

    base_model = _cpu_float(encoder.model)
    base_state = {k: v.detach().clone() for k, v in base_model.state_dict().items()}
    trained_hashes = {p.hash for p in train_photos}
    # "Before" is the model in use when it shares the base's image tower (the base or a text-side
    # version): a new version must beat what the user has now, not just the base.
    current = base_model
    if library.model.key != base.key and versions.image_identity(library, library.model) == base.key:
        current = _cpu_float(library.encoder(library.model).model)
    before = _evaluate(current, base_model, encoder, gallery, held, trained_hashes, config, gallery.vectors)

    model = _copy(base_model, config)
    fit_began = time.monotonic()
    losses: list[float] = []

    def on_step(step: int, total: int, loss: float) -> None:
        losses.append(loss)
        elapsed = time.monotonic() - fit_began
        eta = elapsed / step * (total - step) if step else None
        report(TrainProgress("training", step, total, loss, time.monotonic() - began, eta))

    finished = fit(model, data, config, on_step, cancel)
    if not finished:
        report(TrainProgress("done", elapsed=time.monotonic() - began))
        return TrainResult(None, before, before, False, cancelled=True, seconds=time.monotonic() - began,
                           steps=len(losses), losses=tuple(losses))  # fmt: skip
    merge_lora(model)
    deltas = weight_deltas(model, base_state)

    report(TrainProgress("evaluating", elapsed=time.monotonic() - began))
    mixed = _copy(base_model, config)
    mixed.load_state_dict(
        {k: v + config.mix * deltas[k] if k in deltas else v for k, v in base_state.items()}
    )
    tuned_vectors = gallery.vectors
    if config.tune != "text":
        assert gallery.pixels is not None
        tuned_vectors = _embed(mixed, gallery.pixels)
    after = _evaluate(mixed, base_model, encoder, gallery, held, trained_hashes, config, tuned_vectors)

    report(TrainProgress("saving", elapsed=time.monotonic() - began))
    good = after.not_worse_than(before, config.min_agreement)
    metrics = {"before": before.to_json(), "after": after.to_json(), "improved": good,
               "train_photos": len(train_photos), "held_out_photos": len(held), "final_loss": losses[-1] if losses else None}  # fmt: skip
    record = {**asdict(config), "base_model": {"name": base.name, "pretrained": base.pretrained}}
    version = versions.create_version(library, base, deltas, record, metrics, config.mix)
    activated = good or config.force
    reembedding = False
    if activated:
        reembedding = versions.use_version(library, version.version, config.mix).reembedding
    else:
        log.warning(
            "version %d is worse on held-out tags than the current model; not switched on", version.version
        )
    seconds = time.monotonic() - began
    report(TrainProgress("done", len(losses), len(losses), losses[-1] if losses else None, seconds, 0.0))
    return TrainResult(
        version.version, before, after, activated, reembedding, False, seconds, len(losses), tuple(losses)
    )


def _cpu_float(model: nn.Module) -> nn.Module:
    """The model itself when it already is float32 on the CPU (it is only read), else a copy."""
    params = list(model.parameters())
    if all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params):
        return model
    return copy.deepcopy(model).float().cpu().eval()


def _copy(model: nn.Module, config: TrainConfig) -> nn.Module:
    """A trainable copy; text-side tuning shares the (frozen, never written) image tower."""
    visual: Any = getattr(model, "visual", None)
    memo = {id(visual): visual} if config.tune == "text" and visual is not None else {}
    return copy.deepcopy(model, memo)


def _gallery(
    library: Library, encoder: Encoder, photos: Sequence[TaggedPhoto], config: TrainConfig, use_stored: bool
) -> _Gallery:
    """The photos held-out tags are ranked among: the whole library from its stored vectors when
    the image tower stays as it is; else the tagged photos plus a fixed sample, embedded here."""
    if use_stored:
        hashes, vectors = stored_vectors(library.store, library.model.key)
        return _Gallery(hashes, vectors, None)
    tagged = [p.hash for p in photos]
    wanted = tagged + sample_hashes(library.store, set(tagged), config.gallery_limit, config.seed)
    paths = photo_paths(library.store, wanted)
    hashes = [h for h in wanted if h in paths]
    pixels, ok = load_pixels(encoder, [paths[h] for h in hashes])
    hashes = [hashes[i] for i in ok]
    return _Gallery(
        hashes, _embed(_cpu_float(encoder.model), pixels), pixels if config.tune != "text" else None
    )


def _embed(model: nn.Module, pixels: Tensor, batch: int = 32) -> np.ndarray:
    with torch.no_grad():
        parts = [
            image_features(model, pixels[i : i + batch], tokens=False)[0]
            for i in range(0, len(pixels), batch)
        ]
    return torch.cat(parts).numpy() if parts else np.zeros((0, 0), np.float32)


def _fit_data(
    library: Library,
    encoder: Encoder,
    photos: list[TaggedPhoto],
    texts: list[str],
    gallery: _Gallery,
    config: TrainConfig,
) -> tuple[FitData, list[TaggedPhoto]]:
    position = {h: i for i, h in enumerate(gallery.hashes)}
    need_pixels = config.tune != "text" or config.token_loss
    pixels: Tensor | None = None
    if need_pixels:
        pixels, ok = load_pixels(encoder, [p.path for p in photos])
        photos = [photos[i] for i in ok]
    else:
        photos = [p for p in photos if p.hash in position]
    vectors = patches = None
    if config.tune == "text":
        if all(p.hash in position for p in photos):
            vectors = torch.from_numpy(gallery.vectors[[position[p.hash] for p in photos]].copy())
        if config.token_loss or vectors is None:
            assert pixels is not None or not photos
            frozen = _cpu_float(encoder.model)
            with torch.no_grad():
                v, patches = (
                    image_features(frozen, pixels, tokens=True) if pixels is not None else (None, None)
                )
            vectors = v if vectors is None else vectors
            patches = patches if config.token_loss else None
            pixels = None
    ids = encoder.tokenize(texts)
    eot = pool_positions(encoder.model, ids)
    index = {t: i for i, t in enumerate(texts)}
    model_any: Any = encoder.model
    grid = tuple(int(g) for g in model_any.visual.grid_size) if config.token_loss else (0, 0)
    highlights: list[list[tuple[int, list[int], Tensor]]] = []
    for p in photos:
        entries = []
        if config.token_loss:
            crop = encoder.input_crop(p.size)
            for text, h in p.highlights:
                positions = phrase_positions(encoder, ids[index[text]], h.phrase)
                target = highlight_grid(h, crop, (grid[0], grid[1]))
                if positions and target.sum() > 0:
                    entries.append((index[text], positions, torch.from_numpy(target)))
        highlights.append(entries)
    data = FitData(
        texts, ids, eot, [[index[t] for t in p.texts] for p in photos], vectors, patches, pixels, highlights
    )
    return data, photos


def _text_vectors(model: nn.Module, encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    ids = encoder.tokenize(list(texts))
    with torch.no_grad():
        pooled, _, _ = TextSide(model, ids, pool_positions(model, ids)).features()
    return pooled.numpy()


def _evaluate(
    model: nn.Module,
    base_model: nn.Module,
    encoder: Encoder,
    gallery: _Gallery,
    held: Sequence[TaggedPhoto],
    trained: set[str],
    config: TrainConfig,
    vectors: np.ndarray,
) -> Metrics:
    """Recall@k and mean rank of held-out photos for their tags among gallery photos that were not
    trained on, and top-k agreement with the base model on generic prompts."""
    keep = [i for i, h in enumerate(gallery.hashes) if h not in trained]
    hashes = [gallery.hashes[i] for i in keep]
    photo_vectors = vectors[keep]
    tags_of = {p.hash: set(p.texts) for p in held}
    texts = sorted({t for p in held for t in p.texts})
    text_vectors = _text_vectors(model, encoder, texts)
    ranks = []
    for text, tv in zip(texts, text_vectors, strict=True):
        scores = photo_vectors @ tv
        negatives = np.array([text not in tags_of.get(h, ()) for h in hashes])
        for i, h in enumerate(hashes):
            if text in tags_of.get(h, ()):
                ranks.append(1 + int(((scores > scores[i]) & negatives).sum()))
    k = config.recall_k
    recall = float(np.mean([r <= k for r in ranks])) if ranks else 0.0
    mean_rank = float(np.mean(ranks)) if ranks else 0.0
    agreement = 1.0
    if model is not base_model and len(hashes) > 1:
        top = min(10, max(1, len(hashes) // 4))
        ours = photo_vectors @ _text_vectors(model, encoder, GENERIC_PROMPTS).T
        base_vectors = gallery.vectors[keep]
        theirs = base_vectors @ _text_vectors(base_model, encoder, GENERIC_PROMPTS).T
        overlaps = [
            len(set(np.argsort(-ours[:, j])[:top]) & set(np.argsort(-theirs[:, j])[:top])) / top
            for j in range(len(GENERIC_PROMPTS))
        ]
        agreement = float(np.mean(overlaps))
    return Metrics(recall, mean_rank, k, len(ranks), len(hashes), agreement)


__all__ = [
    "FitData",
    "Metrics",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "TrainingError",
    "fit",
    "train",
]
