"""The training run: tagged photos -> a tuned model version, measured on photos it never saw, and
switched on only when it is clearly better.

    result = train(library, TrainConfig(), progress=print, cancel=event)

Steps: load the tags (one name on many photos is enough); take the library's untagged photos as
negatives (almost none of them carry the tag); measure base and tuned models by k-fold
cross-validation over the tagged photos: each fold's photos are held out, a model is trained on
the rest, and the held-out photos' average precision for their tag, ranked among the untagged
library, is compared with the current model's (a paired comparison over folds and tags, so one or
two photos cannot decide it); check forgetting on generic prompts; train the final model on every
tagged photo; store it as a version and switch it on when clearly better, keep it (offered, not
switched on) when the gain is not measurable, refuse it when clearly worse (unless forced).
"""

from __future__ import annotations

import copy
import functools
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from engine import tag_crops
from engine.calibration import Calibrator
from engine.config import ModelSpec
from engine.encoder import Encoder
from engine.errors import ViewfinderError
from engine.forward import pool_positions
from engine.library import Library
from engine.photo_table import PhotoTable
from engine.search import Pool
from engine.tag_crops import CutOuts
from engine.tag_scoring import average_precision
from engine.tags import (
    STOPWORDS,
    TEXT_TRUST_METRIC,
    Highlight,
    TagStage,
    look_alikes,
    ranking_auc,
    top_share,
    trust_of_auc,
)

from . import versions
from .data import (
    MIN_TAGGED_PHOTOS,
    TaggedPhoto,
    check_enough,
    fold_photos,
    highlight_grid,
    load_pixels,
    load_tagged_photos,
    photo_paths,
    phrase_positions,
    sample_hashes,
    stored_vectors,
)
from .losses import SigmoidContrastiveLoss, SoftmaxContrastiveLoss, TokenContrastiveLoss, highlight_loss
from .tuning import (
    TEXT_SIDE_MODES,
    TUNE_MODES,
    TextSide,
    image_features,
    make_trainable,
    merge_lora,
    weight_deltas,
)

log = logging.getLogger(__name__)

LOSSES = ("sigmoid", "softmax")
# Forgetting check: how a tuned model ranks the library for everyday queries unrelated to the tags.
GENERIC_PROMPTS = (
    "a photo of a dog", "a photo of a cat", "a car on a street", "a beach with the sea", "mountains",
    "a city at night", "food on a plate", "a group of people", "a flower", "a tree in a park",
    "a building", "a sunset", "a bird", "a baby", "snow", "a boat on water", "a computer",
    "a book", "a bicycle", "a river",
)  # fmt: skip
# A short tag (a name) is also learnt inside a sentence, as people search for it.
NAME_TEMPLATES = ("{}", "a photo of {}", "{} in a picture")
# Fine-tuning moves a pretrained model a little. A model at random init knows nothing to keep: it
# is trained from scratch, at the rates open_clip trains small CLIPs from scratch (docs/personal-tags.md).
_DEFAULT_LR = {"names": 2e-2, "text": 1e-4, "lora": 1e-4, "full": 1e-5}
_FROM_SCRATCH_LR = {"names": 2e-2, "text": 3e-4, "lora": 3e-4, "full": 3e-4}
_MAX_TEXTS_PER_STEP = 64
# Names whose candidates training cuts out and looks at up close (engine/tag_crops.py), the most tagged first.
MAX_CROP_TAGS = 10

DECISIONS = ("activated", "kept", "refused")


class TrainingError(ViewfinderError):
    """Training cannot run as asked."""


@dataclass(frozen=True)
class TrainConfig:
    """One training run. `learning_rate` None picks a per-mode default.

    steps: the least number of optimiser steps (epochs over few photos are only a few steps);
    negatives: untagged library photos used as negatives; negative_batch: of those, per step;
    folds: cross-validation folds for the before/after measure; min_gain: the least AP gain that
    counts as better (besides being clearly above the noise).
    """

    loss: str = "sigmoid"
    token_loss: bool = False
    tune: str = "names"
    epochs: int = 10
    steps: int = 120
    batch_size: int = 32
    learning_rate: float | None = None
    text_blocks: int = 2  # "text": how many of the last text blocks learn
    lora_rank: int = 8
    mix: float = 1.0  # WiSE-FT weight of the tuned model, 0..1; changeable later
    highlight_weight: float = 1.0
    negatives: int = 1000
    negative_batch: int = 64
    folds: int = 3
    min_gain: float = 0.02
    recall_k: int = 10
    min_agreement: float = 0.5  # share of generic-prompt top results a tuned model must keep
    min_photos: int = MIN_TAGGED_PHOTOS
    gallery_limit: int = 300  # untagged photos embedded to evaluate image-tower tuning
    force: bool = False  # activate even when the held-out check says the model is not better
    seed: int = 0

    def check(self) -> None:
        if self.loss not in LOSSES:
            raise TrainingError(f"Unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}.")
        if self.tune not in TUNE_MODES:
            raise TrainingError(f"Unknown tuning mode {self.tune!r}; choose one of {', '.join(TUNE_MODES)}.")
        if self.epochs < 1 or self.batch_size < 2 or self.steps < 0:
            raise TrainingError("Training needs at least 1 epoch and a batch size of at least 2.")
        if self.folds < 2:
            raise TrainingError("The held-out check needs at least 2 folds.")
        versions.check_mix(self.mix)

    @property
    def lr(self) -> float:
        return self.learning_rate if self.learning_rate is not None else _DEFAULT_LR[self.tune]

    def for_base(self, base: ModelSpec) -> TrainConfig:
        """This config with its learning rate set for `base` (from scratch at random init)."""
        if self.learning_rate is not None or base.pretrained:
            return replace(self, learning_rate=self.lr)
        return replace(self, learning_rate=_FROM_SCRATCH_LR[self.tune])


@dataclass(frozen=True)
class TrainProgress:
    """Where a run stands: phase is preparing, close-ups (engine/tag_crops.py; step of total photos
    cut out, the tags' together), training, evaluating, saving or done."""

    phase: str
    step: int = 0
    total: int = 0
    loss: float | None = None
    elapsed: float = 0.0
    eta: float | None = None  # seconds left in this phase, when known
    fit: int = 0  # which fit a training step belongs to: the held-out checks, then the final model


TrainProgressCallback = Callable[[TrainProgress], None]


@dataclass(frozen=True)
class Metrics:
    """Held-out quality of one model, over the cross-validation folds.

    ap: mean average precision of held-out tagged photos for their tag, ranked among the untagged
    library; ap_se: its standard error over (fold, tag) measurements; recall_at_k, mean_rank:
    of the same held-out photos; agreement: mean top-k overlap with the base model on generic
    prompts (1.0 for the base; None when not measured: a base at random init knows no everyday
    queries to keep).
    """

    ap: float
    ap_se: float
    recall_at_k: float
    mean_rank: float
    k: int
    pairs: int
    gallery: int
    agreement: float | None

    def to_json(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class Verdict:
    """The gate's decision with its numbers: gain = mean paired AP difference (tuned - before),
    se = its standard error, measurements = how many (fold, tag) pairs it rests on."""

    decision: str  # one of DECISIONS
    gain: float
    se: float
    measurements: int
    reason: str

    def to_json(self) -> dict:
        return {"decision": self.decision, "gain": round(self.gain, 6), "se": round(self.se, 6),
                "measurements": self.measurements, "reason": self.reason}  # fmt: skip


def judge(
    before: Sequence[float], after: Sequence[float], agreement: float | None, config: TrainConfig
) -> Verdict:
    """Clearly better: mean gain above min_gain and two standard errors, no forgetting. Clearly
    worse: mean loss beyond two standard errors (and min_gain), or forgetting. Else: kept.
    agreement None: no forgetting check (nothing to forget)."""
    diffs = np.asarray(after, float) - np.asarray(before, float)
    n = len(diffs)
    if n == 0:
        return Verdict("kept", 0.0, 0.0, 0, "no tag has photos to hold out, so the gain cannot be measured")
    gain = float(diffs.mean())
    se = float(diffs.std(ddof=1) / math.sqrt(n)) if n > 1 else abs(gain)
    if agreement is not None and agreement < config.min_agreement:
        return Verdict("refused", gain, se, n, f"it changed everyday queries (agreement {agreement:.2f})")
    if gain > max(config.min_gain, 2 * se):
        return Verdict("activated", gain, se, n, "clearly better on held-out photos")
    if gain < -max(config.min_gain, 2 * se):
        return Verdict("refused", gain, se, n, "clearly worse on held-out photos")
    return Verdict("kept", gain, se, n, "no measurable gain on held-out photos")


def passes_gate(verdict: Verdict, close_ups: CloseUps | None) -> bool:
    """Switch a version on when its text is clearly better; or when its text is not clearly worse
    and its crops clearly improve search (they stand on the base's image tower, whatever the text)."""
    if verdict.decision != "kept" or close_ups is None:
        return verdict.decision == "activated"
    return close_ups.verdict.decision == "activated"


@dataclass(frozen=True)
class CloseUps:
    """The held-out check of the tags' crops (engine/tag_crops.py): search's AP of held-out tagged
    photos among the untagged ones without and with crops of the rest (means over the fold-tag
    measurements), and the gate's verdict on the difference."""

    before: float
    after: float
    verdict: Verdict

    def to_json(self) -> dict:
        return {"before": round(self.before, 6), "after": round(self.after, 6), "verdict": self.verdict.to_json()}

    def summary(self) -> str:
        v = self.verdict
        return (f"Close-ups: search's held-out AP {self.before:.3f} -> {self.after:.3f} (gain {v.gain:+.3f} ± "
                f"{v.se:.3f} over {v.measurements} fold-tag measurements), {v.reason}.")  # fmt: skip


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
    verdict: Verdict | None = None
    fit_starts: tuple[int, ...] = ()  # where each fit's steps begin in `losses` (the last: the model's)
    # How far search trusts the new model's text for each tag (0..1; TagStage's held-out text trust)
    text_trust: dict[str, float] = field(default_factory=dict)
    seen_up_close: tuple[str, ...] = ()  # the tags whose candidates it cut out (engine/tag_crops.py)
    close_ups: CloseUps | None = None

    @property
    def clearly_better(self) -> bool:
        """The gate's decision (forced or not): see passes_gate."""
        return self.verdict is not None and passes_gate(self.verdict, self.close_ups)

    def search_note(self) -> str:
        """What the new model changes in searches for the tags, in plain words ("" if untold)."""
        notes = []
        trusted = sorted(((v, t) for t, v in self.text_trust.items() if v > 0), reverse=True)
        if trusted:
            names = _some([f"{t} ({v:.2f})" for v, t in trusted])
            notes.append(f"Searches for {names} now also follow the trained model (how far, from 0 to 1).")
        if self.seen_up_close:
            notes.append(
                f"Searches for {_some(self.seen_up_close)} now also compare the object in each likely "
                "photo, cut out and seen up close, with the ones you tagged."
            )
        if not notes and self.text_trust:
            notes.append(
                "Your tagged photos still find their look-alikes better than the trained model does, "
                "so searches for your tags rank as before."
            )
        return " ".join(notes)

    def to_json(self) -> dict:
        return {
            "version": self.version,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "activated": self.activated,
            "verdict": self.verdict.to_json() if self.verdict else None,
            "reembedding": self.reembedding,
            "cancelled": self.cancelled,
            "seconds": round(self.seconds, 3),
            "steps": self.steps,
            "text_trust": self.text_trust,
            "seen_up_close": list(self.seen_up_close),
            "close_ups": self.close_ups.to_json() if self.close_ups else None,
        }


def _some(items: Sequence[str], shown: int = 5) -> str:
    """ "a, b, c and 4 more": the first `shown` of `items`."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


@dataclass
class FitData:
    """Everything the loop needs, indexed by training photo."""

    texts: list[str]
    ids: Tensor  # (M, context) token ids of `texts`
    eot: Tensor  # (M,) end-of-text positions
    photo_texts: list[list[int]]  # per photo: indices of its texts
    vectors: Tensor | None  # (N, D) fixed image vectors (text-side tuning)
    patches: Tensor | None  # (N, P, D) fixed patch vectors (text-side tuning with token loss)
    pixels: Tensor | None  # (N, 3, H, W) model inputs (image-tower tuning)
    highlights: list[
        list[tuple[int, list[int], Tensor]]
    ]  # per photo: (text index, token positions, grid mask)
    negatives: Tensor | None = None  # (U, D) untagged photos' fixed vectors: no text matches them
    learn_tokens: list[int] = field(default_factory=list)  # "names": the vocabulary rows that learn


FitReport = Callable[[int, int, float], None]
Fit = Callable[[nn.Module, FitData, TrainConfig, FitReport, "threading.Event | None"], bool]


def total_steps(config: TrainConfig, photos: int) -> int:
    return max(config.epochs * math.ceil(photos / min(config.batch_size, max(photos, 1))), config.steps)


def fit(
    model: nn.Module,
    data: FitData,
    config: TrainConfig,
    report: FitReport,
    cancel: threading.Event | None = None,
) -> bool:
    """Train `model` in place on `data`; returns False when cancelled (the model is then partial)."""
    torch.manual_seed(config.seed)
    params = make_trainable(
        model,
        config.tune,
        text_blocks=config.text_blocks,
        lora_rank=config.lora_rank,
        token_ids=data.learn_tokens,
    )
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
    total = total_steps(config, n)
    step = 0
    while step < total:
        order = rng.permutation(n)
        for start in range(0, n, batch):
            if step >= total:
                break
            if cancel is not None and cancel.is_set():
                return False
            chosen = order[start : start + batch]
            if len(chosen) < 2 and data.negatives is None:
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
    all_vectors, all_positives = vectors, positives
    if data.negatives is not None and len(data.negatives):
        pick = rng.choice(
            len(data.negatives), size=min(config.negative_batch, len(data.negatives)), replace=False
        )
        all_vectors = torch.cat([vectors, data.negatives[torch.as_tensor(pick)]])
        all_positives = torch.cat([positives, torch.zeros((len(pick), len(text_ids)), dtype=torch.bool)])
    loss = global_loss(all_vectors, pooled, all_positives)
    if token_loss is not None and patches is not None:
        if len(text_ids) > 1:
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

    @functools.cached_property
    def position(self) -> dict[str, int]:
        """content hash -> its row of the gallery."""
        return {h: i for i, h in enumerate(self.hashes)}

    def rows_of(self, photos: Iterable[TaggedPhoto], text: str) -> list[int]:
        """The gallery rows of those `photos` that carry `text`."""
        return [self.position[p.hash] for p in photos if text in p.texts and p.hash in self.position]

    def untagged(self, tagged: set[str]) -> np.ndarray:
        """The rows of the gallery's photos whose hash is not in `tagged`."""
        return np.array([i for i, h in enumerate(self.hashes) if h not in tagged], np.int64)


@dataclass
class _Run:
    """What every fit of one run shares."""

    library: Library
    encoder: Encoder
    config: TrainConfig
    gallery: _Gallery
    base_model: nn.Module
    base_state: dict[str, Tensor]
    steps: list[int]  # steps done across all fits, for progress
    total: int
    report: TrainProgressCallback
    began: float
    losses: list[float]
    fit_starts: list[int] = field(default_factory=list)


def train(
    library: Library,
    config: TrainConfig = TrainConfig(),
    progress: TrainProgressCallback | None = None,
    cancel: threading.Event | None = None,
    *,
    fit: Fit = fit,
) -> TrainResult:
    """Fine-tune on the library's tags; store a version; switch it on when clearly better.

    Raises NotEnoughTags (fewer than `min_photos` tagged photos) or TrainingError. `fit` is
    injectable (tests).
    """
    config.check()
    began = time.monotonic()
    report = progress or (lambda p: None)
    report(TrainProgress("preparing"))
    photos = load_tagged_photos(library.store)
    check_enough(photos, config.min_photos)
    if config.token_loss:
        photos = with_located_highlights(library, photos)
    base = versions.training_base(library)
    config = config.for_base(base)
    encoder = library.encoder(base)
    text_side = config.tune in TEXT_SIDE_MODES
    use_stored = text_side and versions.image_identity(library, library.model) == base.key
    gallery = _gallery(library, encoder, photos, config, use_stored)
    tagged = {p.hash for p in photos}
    untagged = gallery.untagged(tagged)
    if not len(untagged) and len({t for p in photos for t in p.texts}) < 2:
        raise TrainingError(
            "Every photo carries the one tag: training needs untagged photos (or a second tag) to tell it apart."
        )
    folds = fold_photos(photos, config.folds, config.seed)
    cuts = _cut_outs(library, photos, encoder, report, cancel) if use_stored else {}
    base_model = _cpu_float(encoder.model)
    run = _Run(
        library, encoder, config, gallery, base_model,
        {k: v.detach().clone() for k, v in base_model.state_dict().items()}, [0],
        sum(total_steps(config, len(photos) - len(f)) for f in folds) + total_steps(config, len(photos)),
        report, began, [],
    )  # fmt: skip
    # "Before" is the model in use when it shares the base's image tower (the base or a text-side
    # version): a new version must beat what the user has now, not just the base.
    current = base_model
    if library.model.key != base.key and versions.image_identity(library, library.model) == base.key:
        current = _cpu_float(library.encoder(library.model).model)

    before_scores: list[float] = []
    after_scores: list[float] = []
    before_ranks: list[int] = []
    after_ranks: list[int] = []
    trusts: dict[str, list[tuple[float, int, int]]] = {}
    mixes: dict[str, list[np.ndarray]] = {}
    close_up_aps: dict[str, list[tuple[float, float]]] = {}
    ranking = _SearchRanking.of(library, gallery, untagged) if use_stored else None
    for held in folds:
        if cancel is not None and cancel.is_set():
            return _cancelled(run, current, encoder)
        held_hashes = {p.hash for p in held}
        trained = [p for p in photos if p.hash not in held_hashes]
        # The held-out photos join the negatives, as the untagged photos of a tag do in the final
        # fit: measured otherwise, a tuned text looked better on them than on those.
        held_rows = np.array([gallery.position[p.hash] for p in held if p.hash in gallery.position], np.int64)
        tuned = _fit_model(run, trained, np.union1d(untagged, held_rows), cancel, fit)
        if tuned is None:
            return _cancelled(run, current, encoder)
        tuned_vectors = gallery.vectors if text_side else _embed(tuned, gallery.pixels)  # type: ignore[arg-type]
        texts_after = _held_out_texts(tuned, encoder, held)
        b_ap, b_ranks = _held_out(_held_out_texts(current, encoder, held), gallery, gallery.vectors, held, untagged)
        a_ap, a_ranks = _held_out(texts_after, gallery, tuned_vectors, held, untagged)
        before_scores += b_ap
        after_scores += a_ap
        before_ranks += b_ranks
        after_ranks += a_ranks
        hard_of = ranking.look_alikes if ranking else _vector_look_alikes(tuned_vectors, untagged)
        fold_aucs = _held_out_aucs(texts_after, gallery, tuned_vectors, held, trained, hard_of)
        for text, measured in fold_aucs.items():
            trusts.setdefault(text, []).append(measured)
        if ranking is not None:
            for text, aps in _held_out_mixes(texts_after, gallery, held, trained, ranking.mix_aps).items():
                mixes.setdefault(text, []).append(aps)
            for text, pair in _held_out_close_ups(cuts, gallery, held, trained, ranking.close_up_aps).items():
                close_up_aps.setdefault(text, []).append(pair)

    model = _fit_model(run, photos, untagged, cancel, fit)
    if model is None:
        return _cancelled(run, current, encoder)
    report(TrainProgress("evaluating", elapsed=time.monotonic() - began))
    final_vectors = gallery.vectors if text_side else _embed(model, gallery.pixels)  # type: ignore[arg-type]
    # A model at random init ranks everyday queries by chance: there is nothing to forget.
    agreement = None
    if base.pretrained:
        agreement = _agreement(model, base_model, encoder, gallery, final_vectors, untagged)
    before = _metrics(before_scores, before_ranks, config, len(untagged), 1.0)
    after = _metrics(after_scores, after_ranks, config, len(untagged), agreement)
    verdict = judge(before_scores, after_scores, agreement, config)
    close_ups = _close_ups([aps for pairs in close_up_aps.values() for aps in pairs], config)
    crops = {text: c.crops() for text, c in cuts.items()}

    report(TrainProgress("saving", elapsed=time.monotonic() - began))
    deltas = weight_deltas(model, run.base_state)
    losses = run.losses
    text_trust = _text_trusts(trusts, mixes)
    activated = passes_gate(verdict, close_ups)
    metrics = {"before": before.to_json(), "after": after.to_json(), "verdict": verdict.to_json(),
               "close_ups": close_ups.to_json() if close_ups else None,
               "improved": activated, "train_photos": len(photos),
               "final_loss": losses[-1] if losses else None, TEXT_TRUST_METRIC: text_trust}  # fmt: skip
    record = {**asdict(config), "base_model": {"name": base.name, "pretrained": base.pretrained}}
    version = versions.create_version(library, base, deltas, record, metrics, config.mix)
    if not tag_crops.save(version.path, crops):  # the version stands without them: its tags as before
        log.warning("could not keep the tags' crops with version %d", version.version)
        crops = {}
    reembedding = False
    switched_on = activated or config.force
    if switched_on:
        reembedding = versions.use_version(library, version.version, config.mix).reembedding
    else:
        log.info("version %d not switched on: %s", version.version, verdict.reason)  # callers say why
    seconds = time.monotonic() - began
    report(TrainProgress("done", len(losses), len(losses), losses[-1] if losses else None, seconds, 0.0))
    return TrainResult(
        version.version,
        before,
        after,
        switched_on,
        reembedding,
        False,
        seconds,
        len(losses),
        tuple(losses),
        verdict,
        tuple(run.fit_starts),
        text_trust,
        tuple(sorted(t for t, c in crops.items() if c.weight > 0)),
        close_ups,
    )


def _fit_model(
    run: _Run, photos: Sequence[TaggedPhoto], negatives: np.ndarray, cancel: threading.Event | None, fit: Fit
) -> nn.Module | None:
    """A tuned copy of the base, trained on `photos` with (a fixed sample of config.negatives of)
    the gallery rows `negatives` as photos no text matches, WiSE-mixed at config.mix; None if
    cancelled."""
    config = run.config
    texts = sorted({t for p in photos for t in _training_texts(p.texts)})
    data, used = _fit_data(run.library, run.encoder, list(photos), texts, run.gallery, config)
    if len(used) < 1:
        raise TrainingError("Too few tagged photos could be read to train on.")
    pick = np.sort(np.random.default_rng(config.seed).permutation(negatives)[: config.negatives])
    if config.tune in TEXT_SIDE_MODES and len(pick):
        data.negatives = torch.from_numpy(run.gallery.vectors[pick].copy())
    model = _copy(run.base_model, config)
    fit_began = time.monotonic()
    first = run.steps[0]
    run.fit_starts.append(len(run.losses))
    which = len(run.fit_starts) - 1

    def on_step(step: int, total: int, loss: float) -> None:
        run.losses.append(loss)
        run.steps[0] = first + step
        elapsed = time.monotonic() - fit_began
        eta = elapsed / step * (run.total - run.steps[0]) if step else None
        run.report(
            TrainProgress("training", run.steps[0], run.total, loss, time.monotonic() - run.began, eta, which)
        )

    if not fit(model, data, replace(config, seed=config.seed + first), on_step, cancel):
        return None
    merge_lora(model)
    if config.mix >= 1.0:
        return model
    deltas = weight_deltas(model, run.base_state)
    mixed = _copy(run.base_model, config)
    mixed.load_state_dict(
        {k: v + config.mix * deltas[k] if k in deltas else v for k, v in run.base_state.items()}
    )
    return mixed


def _cut_outs(
    library: Library,
    photos: Sequence[TaggedPhoto],
    encoder: Encoder,
    report: TrainProgressCallback,
    cancel: threading.Event | None,
) -> dict[str, CutOuts]:
    """Each tag's photos cut out where its object is (engine/tag_crops.py): the tags of at least 3
    photos, the MAX_CROP_TAGS most tagged (each costs about CROP_CANDIDATES + CROP_NEGATIVES
    photos, and its tagged ones twice, decoded once and encoded at about 13 places). A tag of a
    whole scene rather than an object gets none: without highlight boxes, the window cache does
    not trust its keys; nor does a tag whose crops rank its held-out photos clearly worse
    (tag_crops.held_out_check, as Library.look_closer)."""
    counts = Counter(t for p in photos for t in p.texts)
    names = [text for text, count in counts.most_common(MAX_CROP_TAGS) if count >= 3]
    out = {}
    for done, text in enumerate(names):
        if cancel is not None and cancel.is_set():
            break
        def photo_done(step: int, total: int, done: int = done) -> None:
            report(TrainProgress("close-ups", done * total + step, len(names) * total))

        stage, table = library.tag_stage()
        found = tag_crops.cut_out(stage, table, text, encoder, progress=photo_done, cancel=cancel)
        # A tag whose crops rank its held-out photos clearly worse keeps its own ranking.
        if found is not None and not tag_crops.held_out_check(stage, table, text, found).clearly_worse:
            out[text] = found
    return out


def _cancelled(run: _Run, current: nn.Module, encoder: Encoder) -> TrainResult:
    empty = _metrics([], [], run.config, 0, 1.0)
    run.report(TrainProgress("done", elapsed=time.monotonic() - run.began))
    return TrainResult(None, empty, empty, False, cancelled=True, seconds=time.monotonic() - run.began,
                       steps=len(run.losses), losses=tuple(run.losses),
                       fit_starts=tuple(run.fit_starts))  # fmt: skip


def _training_texts(texts: Sequence[str]) -> list[str]:
    """A photo's tag texts, and for one- or two-word tags (names) the same inside a sentence."""
    out = []
    for text in texts:
        out += [t.format(text) for t in NAME_TEMPLATES] if len(text.split()) <= 2 else [text]
    return out


def _cpu_float(model: nn.Module) -> nn.Module:
    """The model itself when it already is float32 on the CPU (it is only read), else a copy."""
    params = list(model.parameters())
    if all(p.device.type == "cpu" and p.dtype == torch.float32 for p in params):
        return model
    return copy.deepcopy(model).float().cpu().eval()


def _copy(model: nn.Module, config: TrainConfig) -> nn.Module:
    """A trainable copy; text-side tuning shares the (frozen, never written) image tower."""
    visual: Any = getattr(model, "visual", None)
    memo = {id(visual): visual} if config.tune in TEXT_SIDE_MODES and visual is not None else {}
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
        hashes,
        _embed(_cpu_float(encoder.model), pixels),
        pixels if config.tune not in TEXT_SIDE_MODES else None,
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
    position = gallery.position
    text_side = config.tune in TEXT_SIDE_MODES
    need_pixels = not text_side or config.token_loss
    pixels: Tensor | None = None
    if need_pixels:
        pixels, ok = load_pixels(encoder, [p.path for p in photos])
        photos = [photos[i] for i in ok]
    else:
        photos = [p for p in photos if p.hash in position]
    vectors = patches = None
    if text_side:
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
    grid = encoder.patch_grid if config.token_loss else (0, 0)
    photo_texts = [sorted({index[t] for t in _training_texts(p.texts)}) for p in photos]
    highlights: list[list[tuple[int, list[int], Tensor]]] = []
    for p, own in zip(photos, photo_texts, strict=True):
        entries = []
        if config.token_loss:
            crop = encoder.input_crop(p.size)
            for tag_text, h in p.highlights:
                target = torch.from_numpy(highlight_grid(h, crop, (grid[0], grid[1])))
                if target.sum() <= 0:
                    continue
                for t in own:  # the phrase in every text made from this tag
                    if tag_text in texts[t]:
                        positions = phrase_positions(encoder, ids[t], h.phrase)
                        if positions:
                            entries.append((t, positions, target))
        highlights.append(entries)
    data = FitData(texts, ids, eot, photo_texts, vectors, patches, pixels, highlights)
    data.learn_tokens = tag_tokens(encoder, {t for p in photos for t in p.texts})
    return data, photos


def tag_tokens(encoder: Encoder, texts: set[str]) -> list[int]:
    """The vocabulary ids of the tags' own words (not the sentence templates', not stopwords):
    what "names" tuning learns."""
    tokens: set[int] = set()
    for text in texts:
        for word in text.split():
            if word.lower() not in STOPWORDS:
                tokens.update(encoder.tokenizer.encode(word))
    return sorted(tokens)


def _text_vectors(model: nn.Module, encoder: Encoder, texts: Sequence[str]) -> np.ndarray:
    ids = encoder.tokenize(list(texts))
    with torch.no_grad():
        pooled, _, _ = TextSide(model, ids, pool_positions(model, ids)).features()
    return pooled.numpy()


def _held_out_texts(model: nn.Module, encoder: Encoder, held: Sequence[TaggedPhoto]) -> dict[str, np.ndarray]:
    """The tag texts of the held-out photos and `model`'s vector of each."""
    texts = sorted({t for p in held for t in p.texts})
    return dict(zip(texts, _text_vectors(model, encoder, texts), strict=True))


def _held_out(
    texts: dict[str, np.ndarray],
    gallery: _Gallery,
    vectors: np.ndarray,
    held: Sequence[TaggedPhoto],
    untagged: np.ndarray,
) -> tuple[list[float], list[int]]:
    """Per tag of the held-out photos (its text vector in `texts`): the AP of those photos among the
    untagged library (gallery rows `untagged`) for the tag's text; and every held-out photo's rank
    (1 + untagged photos above it)."""
    aps, ranks = [], []
    for text, tv in texts.items():
        rows = gallery.rows_of(held, text)
        if not rows:
            continue
        scores = vectors[np.concatenate([rows, untagged]).astype(int)] @ tv
        relevant = np.zeros(len(scores), bool)
        relevant[: len(rows)] = True
        aps.append(average_precision(scores, relevant))
        negatives = scores[len(rows) :]
        ranks += [1 + int((negatives > s).sum()) for s in scores[: len(rows)]]
    return aps, ranks


# The look-alikes of a tag: (tag text, gallery rows of the fold's photos carrying it) -> the
# vectors of the untagged photos that the tag's scoring, fitted on those photos, ranks highest.
LookAlikes = Callable[[str, list[int]], np.ndarray]


def _held_out_aucs(
    texts: dict[str, np.ndarray],
    gallery: _Gallery,
    vectors: np.ndarray,
    held: Sequence[TaggedPhoto],
    trained: Sequence[TaggedPhoto],
    hard_of: LookAlikes,
) -> dict[str, tuple[float, int, int]]:
    """Per tag of the held-out photos: (AUC, held-out photos, look-alikes) of the tuned text (in
    `texts`) at telling those photos from the untagged photos that the tag's own scoring, fitted on
    the fold's training photos, ranks highest (`hard_of`). Search trusts a trained name's text no
    more than this shows: in-sample, a name separates its own tagged photos whether or not it learnt
    anything the tag's scoring lacks."""
    out = {}
    for text, tv in texts.items():
        rows, keys = gallery.rows_of(held, text), gallery.rows_of(trained, text)
        if rows and keys:
            hard = hard_of(text, keys)
            if len(hard):
                out[text] = (ranking_auc(tv, vectors[rows], hard), len(rows), len(hard))
    return out


def _vector_look_alikes(vectors: np.ndarray, untagged: np.ndarray) -> LookAlikes:
    """Look-alikes by the tag's scorer of the global `vectors` alone (look_alikes): for a gallery
    embedded here, which has no patch grids."""
    return lambda text, keys: look_alikes(vectors[keys], vectors[untagged])


def with_located_highlights(library: Library, photos: list[TaggedPhoto]) -> list[TaggedPhoto]:
    """`photos` with, for each one-word tag (a name) a photo carries without a highlight of it, the
    box where search's window cache locates the name's object in it (TagStage.located_boxes):
    --token-loss then pulls the name towards its object in photos the user drew no box on. A
    longer tag does not say which of its words the shared object is, and gets none."""
    stage, table = library.tag_stage()
    names = sorted({t for p in photos for t in p.texts if len(t.split()) == 1})
    located = {name: stage.located_boxes(name, table) for name in names}
    out = []
    for p in photos:
        marked = {text for text, _ in p.highlights}
        extra = tuple(
            (t, Highlight(t, located[t][p.hash]))
            for t in p.texts
            if t in located and t not in marked and p.hash in located[t]
        )
        out.append(replace(p, highlights=p.highlights + extra) if extra else p)
    return out


# The trusts a trained name's text is tried at, mixed into search's ranking of its tag.
MIX_TRUSTS = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)


@dataclass
class _SearchRanking:
    """Search's own ranking of a tag (the tag stage: TagStage.odds, the scorers of the global
    vectors and the window cache over the highlighted photos' grids) over the library's untagged
    photos, for a gallery of the library's stored vectors; fitted on a fold's training photos."""

    gallery: _Gallery
    untagged: np.ndarray  # gallery rows, in the order of their table rows
    untagged_rows: np.ndarray  # their table rows, ascending
    table: PhotoTable
    sample: np.ndarray  # the table rows the stage's scorers are fitted against (TagStage.sample)
    calibrator: Calibrator
    stage: TagStage

    @classmethod
    def of(cls, library: Library, gallery: _Gallery, untagged: np.ndarray) -> _SearchRanking | None:
        """None when the gallery's photos are not all the table's."""
        tables, calibrator, stages = library.search_parts()
        stage = next(s for s in stages if isinstance(s, TagStage))
        table = tables.current()
        row_of = table.row_of_hash
        if not all(h in row_of for h in gallery.hashes):
            return None
        rows = np.array([row_of[gallery.hashes[g]] for g in untagged], np.int64)
        order = np.argsort(rows)
        return cls(gallery, untagged[order], rows[order], table, stage.sample(table), calibrator, stage)

    def look_alikes(self, text: str, keys: list[int]) -> np.ndarray:
        """LookAlikes: the vectors of the untagged photos that the tag's ranking, fitted on the
        gallery rows `keys`, puts first (top_share): the text's trust is then measured against the
        photos search ranks it beside, not against what the global scorers alone would confuse
        with the tag."""
        odds, _ = self._odds(text, keys, [])
        return self.gallery.vectors[self.untagged[top_share(odds)]]

    def mix_aps(self, text: str, keys: list[int], held: list[int], vector: np.ndarray) -> np.ndarray:
        """The AP of the held-out photos (gallery rows `held`) among the untagged ones at each of
        MIX_TRUSTS, ranked as search ranks a query of the tag's text (TagStage.evidence and the
        meaning stage): the tag's belief, fitted on `keys`, plus the trust times the calibrated
        meaning of the tuned text's `vector`."""
        odds, rows = self._odds(text, keys, held)
        belief = self.stage.belief(odds)
        meaning = self.calibrator.logits(self.table, rows, vector, "text", text=text)
        relevant = np.isin(rows, self._rows(held))
        return np.array([average_precision(belief + trust * meaning, relevant) for trust in MIX_TRUSTS])

    def close_up_aps(self, text: str, keys: list[int], held: list[int], cuts: CutOuts) -> tuple[float, float]:
        """The AP of the held-out photos (gallery rows `held`) among the untagged ones, ranked by the
        tag's log-odds fitted on `keys`, without and with crops scored by those photos' keys: the
        candidates', and the held-out photos' own best cut-outs, cut as an untagged photo of the
        tag is (around where the window cache, which knew them, puts their object)."""
        odds, rows = self._odds(text, keys, held)
        relevant = np.isin(rows, self._rows(held))
        keyed = np.isin(cuts.key_hashes, [self.gallery.hashes[g] for g in keys])
        held_out = np.isin(cuts.key_hashes, [self.gallery.hashes[g] for g in held])
        with_crops = cuts.crops(keyed, held_out).mixed_into(odds, self.table, rows)
        return average_precision(odds, relevant), average_precision(with_crops, relevant)

    def _odds(self, text: str, keys: list[int], held: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The tag's log-odds, fitted on the gallery rows `keys`, of the untagged photos and those
        at gallery rows `held`, at the table rows returned beside them (ascending, as a pool's are)."""
        rows = np.union1d(self.untagged_rows, self._rows(held))
        pool = Pool(self.table, rows, np.zeros(len(rows), np.float32))
        return self.stage.odds([text], pool, self._rows(keys), self.sample, with_crops=False), rows

    def _rows(self, gallery_rows: list[int]) -> np.ndarray:
        """The table rows of the photos at `gallery_rows`, ascending."""
        row_of = self.table.row_of_hash
        return np.array(sorted(row_of[self.gallery.hashes[g]] for g in gallery_rows), np.int64)


def _held_out_mixes(
    texts: dict[str, np.ndarray],
    gallery: _Gallery,
    held: Sequence[TaggedPhoto],
    trained: Sequence[TaggedPhoto],
    mix_aps: Callable[[str, list[int], list[int], np.ndarray], np.ndarray],
) -> dict[str, np.ndarray]:
    """Per tag of the held-out photos: their AP at each of MIX_TRUSTS (`mix_aps`), the tuned text
    (in `texts`) mixed into search's ranking fitted on the fold's training photos."""
    out = {}
    for text, tv in texts.items():
        rows, keys = gallery.rows_of(held, text), gallery.rows_of(trained, text)
        if rows and keys:
            out[text] = mix_aps(text, keys, rows, tv)
    return out


def _held_out_close_ups(
    cuts: dict[str, CutOuts],
    gallery: _Gallery,
    held: Sequence[TaggedPhoto],
    trained: Sequence[TaggedPhoto],
    close_up_aps: Callable[[str, list[int], list[int], CutOuts], tuple[float, float]],
) -> dict[str, tuple[float, float]]:
    """Per tag of the held-out photos that was cut out (`cuts`): their AP without and with the
    crops (`close_up_aps`) of the fold's training photos."""
    out = {}
    for text, c in sorted(cuts.items()):
        rows, keys = gallery.rows_of(held, text), gallery.rows_of(trained, text)
        if rows and len(set(c.key_hashes) & {gallery.hashes[k] for k in keys}) >= 3:
            out[text] = close_up_aps(text, keys, rows, c)
    return out


def _close_ups(pairs: Sequence[tuple[float, float]], config: TrainConfig) -> CloseUps | None:
    """The close-up check over every (fold, tag) pair of held-out APs without and with crops."""
    if not pairs:
        return None
    without, with_crops = ([pair[i] for pair in pairs] for i in (0, 1))
    return CloseUps(float(np.mean(without)), float(np.mean(with_crops)), judge(without, with_crops, None, config))


def _text_trusts(
    aucs: dict[str, list[tuple[float, int, int]]], mixes: dict[str, list[np.ndarray]]
) -> dict[str, float]:
    """Each tag's held-out text trust: its pooled AUC against the look-alikes (`aucs`,
    _pooled_trust), and where search's own ranking was measured (`mixes`), no more than the trust
    of MIX_TRUSTS whose mix ranked the held-out photos best on average over the folds (the least
    of equals)."""
    trusts = {}
    for text, folds in sorted(aucs.items()):
        trust = _pooled_trust(folds)
        if text in mixes:
            trust = min(trust, MIX_TRUSTS[int(np.argmax(np.mean(mixes[text], axis=0)))])
        trusts[text] = round(trust, 6)
    return trusts


def _pooled_trust(folds: Sequence[tuple[float, int, int]]) -> float:
    """One trust from the folds' (AUC, positives, negatives): the AUC averaged over every held-out
    photo, its chance level from all of them together (each photo is held out once)."""
    positives = sum(n for _, n, _ in folds)
    auc = sum(a * n for a, n, _ in folds) / positives
    return trust_of_auc(auc, positives, round(float(np.mean([m for _, _, m in folds]))))


def _metrics(
    aps: Sequence[float], ranks: Sequence[int], config: TrainConfig, gallery: int, agreement: float | None
) -> Metrics:
    k = config.recall_k
    n = len(aps)
    se = float(np.std(aps, ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return Metrics(
        float(np.mean(aps)) if n else 0.0, se,
        float(np.mean([r <= k for r in ranks])) if ranks else 0.0,
        float(np.mean(ranks)) if ranks else 0.0, k, len(ranks), gallery, agreement,
    )  # fmt: skip


def _agreement(
    model: nn.Module,
    base_model: nn.Module,
    encoder: Encoder,
    gallery: _Gallery,
    vectors: np.ndarray,
    rows: np.ndarray,
) -> float:
    """Mean top-k overlap, over generic prompts, of the tuned and base rankings of the untagged
    library (its gallery `rows`; 1.0: everyday queries find exactly what they found before)."""
    if len(rows) < 2:
        return 1.0
    top = min(10, max(1, len(rows) // 4))
    ours = vectors[rows] @ _text_vectors(model, encoder, GENERIC_PROMPTS).T
    theirs = gallery.vectors[rows] @ _text_vectors(base_model, encoder, GENERIC_PROMPTS).T
    overlaps = [
        len(set(np.argsort(-ours[:, j])[:top]) & set(np.argsort(-theirs[:, j])[:top])) / top
        for j in range(len(GENERIC_PROMPTS))
    ]
    return float(np.mean(overlaps))


__all__ = [
    "DECISIONS",
    "FitData",
    "Metrics",
    "TrainConfig",
    "TrainProgress",
    "TrainResult",
    "TrainingError",
    "Verdict",
    "fit",
    "judge",
    "train",
]
