"""Training-free scoring of photos for a personal tag, from stored photo vectors alone.

The moment a user tags photos "Rex", two scorers read the tagged photos' vectors (positives) and a
sample of the library's vectors (negatives: almost all of a library is not Rex):

- a per-tag linear probe: a class-balanced ridge classifier (shrinkage LDA). It learns what sets
  the tagged photos apart from the rest of the library, which the plain prototype (the mean of the
  tagged vectors) cannot: it weighs the dot that tells Rex from every other red circle. Fitted on
  fewer than full_probe photos it learns mostly noise, so it is then mixed with the prototype;
- Tip-Adapter's cache: a photo's affinity to the tagged photos, mean exp(-sharpness (1 - cos)),
  dominated by its nearest tagged photos. Photos of Rex look different from one another (alone,
  beside a ball, small, large) and a single direction averages that away; the nearest look does not.

Each scorer is calibrated to log-odds on its own (negatives' mean -> -2, positives' mean -> +2;
the cache's positives each leave themselves out), and the two are mixed, cache_weight : 1 -
cache_weight, into one probability. docs/personal-tags.md has the maths and the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Standard errors of a chance AUC that a scorer must clear before search trusts it (trust_of_auc).
TRUST_MARGIN = 2.0


@dataclass(frozen=True)
class ProbeConfig:
    """shrinkage: the probe's ridge strength as a share of the features' mean variance; full_probe:
    the probe is all of the linear scorer from this many tagged photos on; with fewer, the rest is
    the prototype's (a probe fitted on 3 photos ranks their look-alikes well below their mean
    does); sharpness: the cache's; cache_weight: the cache's share of the mixed log-odds (0: the
    linear scorer alone), reached from full_cache tagged photos on (fewer photos, proportionally
    less: a cache of 4 photos covers few of a tag's looks);
    max_negatives: library sample size; seed: that sample."""

    shrinkage: float = 0.3
    full_probe: int = 30
    sharpness: float = 30.0
    cache_weight: float = 0.7
    full_cache: int = 30
    max_negatives: int = 2000
    seed: int = 0


@dataclass(frozen=True)
class Probe:
    """A linear scorer w . x + b, calibrated by sigmoid(slope * (w . x + b))."""

    weights: np.ndarray  # (D,)
    bias: float
    slope: float

    def logits(self, vectors: np.ndarray) -> np.ndarray:
        return vectors @ self.weights + self.bias

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.slope * self.logits(vectors)))


def prototype_scores(positives: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Cosine of each vector to the mean of the positives (the plainest baseline)."""
    return vectors @ _unit_mean(positives)


def _unit_mean(vectors: np.ndarray) -> np.ndarray:
    centre = vectors.mean(axis=0)
    return centre / (np.linalg.norm(centre) or 1.0)


def prototype_probe(positives: np.ndarray, negatives: np.ndarray) -> Probe:
    """prototype_scores as a calibrated linear scorer."""
    weights = _unit_mean(positives)
    middle, slope = calibration(positives @ weights, negatives @ weights)
    return Probe(weights.astype(np.float32), -middle, slope)


def mixed_probe(a: Probe, b: Probe, share: float, positives: np.ndarray, negatives: np.ndarray) -> Probe:
    """share x a's log-odds + (1 - share) x b's, one linear scorer, calibrated again."""
    weights = share * a.slope * a.weights + (1 - share) * b.slope * b.weights
    bias = share * a.slope * a.bias + (1 - share) * b.slope * b.bias
    middle, slope = calibration(positives @ weights + bias, negatives @ weights + bias)
    return Probe(weights.astype(np.float32), bias - middle, slope)


def fit_probe(positives: np.ndarray, negatives: np.ndarray, shrinkage: float = 0.3) -> Probe:
    """Class-balanced ridge regression of +1 (positives) / -1 (negatives) on the vectors.

    Each class weighs half, whatever its size; the intercept is not penalised. The decision value
    is rescaled so the classes' weighted means sit at +-2 before the sigmoid.
    """
    if not len(positives) or not len(negatives):
        raise ValueError("a probe needs at least one positive and one negative")
    return _fit(np.concatenate([positives, negatives]).astype(np.float64), len(positives), shrinkage)


def _fit(x: np.ndarray, positives: int, shrinkage: float, gram: np.ndarray | None = None) -> Probe:
    """fit_probe of the first `positives` rows of `x` (float64) against the rest. With more
    features than rows the same weights come from the smaller system in the rows, made from their
    Gram matrix `gram` (x @ x.T; computed here when not given)."""
    n = len(x)
    y = np.where(np.arange(n) < positives, 1.0, -1.0)
    w = np.where(y > 0, 0.5 / positives, 0.5 / (n - positives))
    mean = w @ x
    if x.shape[1] > n:
        gram = x @ x.T if gram is None else gram
        own = gram @ w  # each row's dot with the mean
        spread = float(w @ np.diag(gram) - w @ own)  # the weighted mean of |row - mean|^2
        centred_gram = gram - own[:, None] - own[None, :] + float(w @ own)
        ridge = shrinkage * max(spread / x.shape[1], 1e-12)
        dual = np.linalg.solve(w[:, None] * centred_gram + ridge * np.eye(n), w * y)
        weights = x.T @ dual - mean * dual.sum()
    else:
        centred = x - mean
        ridge = shrinkage * max(float(w @ (centred * centred).sum(axis=1)) / x.shape[1], 1e-12)
        gram = (centred * w[:, None]).T @ centred
        weights = np.linalg.solve(gram + ridge * np.eye(gram.shape[0]), centred.T @ (w * y))
    bias = -float(mean @ weights)
    logits = x @ weights + bias
    middle, slope = calibration(logits[:positives], logits[positives:])
    return Probe(weights.astype(np.float32), bias - middle, slope)


def cross_fitted_probe(
    positives: np.ndarray, negatives: np.ndarray, shrinkage: float, folds: int = 5, seed: int = 0
) -> Probe:
    """fit_probe of all the vectors, its slope set by cross-fitting: the classes' means of each
    vector's logit under a probe fitted without its fold -> +-2. With more features than vectors
    a probe separates its own vectors almost perfectly, and their logits would set too narrow a
    scale. At least two positives. The folds' ridges in the vectors share one Gram matrix."""
    folds = min(folds, len(positives), len(negatives))
    rng = np.random.default_rng(seed)
    fold_of = np.concatenate(
        [rng.permutation(len(positives)) % folds, rng.permutation(len(negatives)) % folds]
    )
    x = np.concatenate([positives, negatives]).astype(np.float64)
    gram = x @ x.T if x.shape[1] > len(x) else None
    is_positive = np.arange(len(x)) < len(positives)
    crossed = np.zeros(len(x))
    for f in range(folds):
        rows = np.flatnonzero(fold_of != f)  # the positives first, as _fit takes them
        probe = _fit(
            x[rows],
            int(is_positive[rows].sum()),
            shrinkage,
            None if gram is None else gram[np.ix_(rows, rows)],
        )
        crossed[fold_of == f] = probe.logits(x[fold_of == f])
    middle, slope = calibration(crossed[is_positive], crossed[~is_positive])
    full = _fit(x, len(positives), shrinkage, gram)
    return Probe(full.weights, full.bias - middle, slope)


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    """AP of ranking by descending score against a boolean relevance array (ties: index order)."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    hits = np.cumsum(relevant[order])
    precision = hits / np.arange(1, len(scores) + 1)
    return float((precision * relevant[order]).sum() / max(1, int(relevant.sum())))


def auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """The AUC of scores at ranking `positives` above `negatives`: the mean share of negatives
    scored below each positive."""
    ranked = np.sort(negatives)
    return float((np.searchsorted(ranked, positives) / len(ranked)).mean())


def trust_of_auc(auc: float, positives: int, negatives: int) -> float:
    """2 * (AUC - 0.5), 0..1, less two standard errors of a chance AUC (its variance is
    (1 / positives + 1 / negatives) / 12): only what a scorer (or a text) does beyond luck on so few
    photos."""
    chance = np.sqrt((1.0 / max(positives, 1) + 1.0 / max(negatives, 1)) / 12.0)
    return float(np.clip(2.0 * (auc - 0.5 - TRUST_MARGIN * chance), 0.0, 1.0))


def calibration(positives: np.ndarray, negatives: np.ndarray) -> tuple[float, float]:
    """(middle, slope) that map the classes' mean scores to -2 and +2 log-odds; slope 0 (the scorer
    says nothing) where the positives' mean is not above the negatives' by more than float32
    rounding. Without that, a scorer that does not separate them at all, such as the cache of a few
    tagged photos on a model at random init, got a slope of 4e9 and buried every other scorer."""
    pos, neg = float(np.mean(positives)), float(np.mean(negatives))
    if pos - neg <= 1e-6 * max(1.0, abs(pos), abs(neg)):
        return (pos + neg) / 2, 0.0
    return (pos + neg) / 2, 4.0 / (pos - neg)


def cache_affinity(
    keys: np.ndarray, vectors: np.ndarray, sharpness: float, *, own: bool = False
) -> np.ndarray:
    """log of Tip-Adapter's cache affinity, mean over keys of exp(-sharpness * (1 - cos)): a soft
    maximum of the cosines to the tagged photos. own: `vectors` are the keys themselves, and each
    leaves itself out (an untagged photo of the same look would not find itself in the cache)."""
    logits = sharpness * (vectors @ keys.T).astype(np.float64) - sharpness
    if own and len(keys) > 1:
        np.fill_diagonal(logits, -np.inf)
    return soft_max(logits)


def soft_max(logits: np.ndarray) -> np.ndarray:
    """log mean exp over the last axis (the cache's affinity from its keys' logits), without
    overflow; a key left out has the logit -inf."""
    top = logits.max(axis=-1, keepdims=True)
    return (top[..., 0] + np.log(np.exp(logits - top).mean(axis=-1))).astype(np.float32)


@dataclass(frozen=True)
class TagScorer:
    """A tag's probe and cache, fitted on its tagged photos' vectors (positives) against a sample of
    the library (negatives), each calibrated to log-odds (negatives' mean -> -2, positives' -> +2)
    and mixed cache_weight : 1 - cache_weight."""

    probe: Probe
    keys: np.ndarray
    cache_weight: float
    sharpness: float
    middle: float
    slope: float

    @classmethod
    def fit(
        cls, positives: np.ndarray, negatives: np.ndarray, config: ProbeConfig = ProbeConfig()
    ) -> TagScorer:
        probe = fit_probe(positives, negatives, config.shrinkage)
        share = min(1.0, len(positives) / config.full_probe)
        if share < 1:
            probe = mixed_probe(probe, prototype_probe(positives, negatives), share, positives, negatives)
        # The cache is only as good as its looks are covered: full weight from `full_cache` photos on.
        cache_weight = config.cache_weight * min(1.0, len(positives) / config.full_cache)
        middle, slope = 0.0, 0.0
        if cache_weight > 0:
            middle, slope = calibration(
                cache_affinity(positives, positives, config.sharpness, own=True),
                cache_affinity(positives, negatives, config.sharpness),
            )
        return cls(probe, positives, cache_weight, config.sharpness, middle, slope)

    def log_odds(self, vectors: np.ndarray) -> np.ndarray:
        """Calibrated log-odds that each of `vectors` shows what the positives show."""
        out = (1.0 - self.cache_weight) * self.probe.slope * self.probe.logits(vectors)
        if self.cache_weight > 0:
            affinity = cache_affinity(self.keys, vectors, self.sharpness)
            out = out + self.cache_weight * self.slope * (affinity - self.middle)
        return out.astype(np.float32)


def held_out_auc(
    positives: np.ndarray, negatives: np.ndarray, config: ProbeConfig = ProbeConfig(), folds: int = 5
) -> float:
    """The AUC of TagScorer at telling `positives` from `negatives` (fitted on them all), each
    positive scored by a scorer fitted on the other folds of positives: how well the global vectors
    tell the tagged photos from the library, for photos they were not fitted on."""
    fold = np.arange(len(positives)) % folds
    held_out = np.zeros(len(positives), np.float32)
    for f in range(min(folds, len(positives))):
        rest = positives[fold != f]
        held_out[fold == f] = (
            tag_log_odds(rest, negatives, positives[fold == f], config) if len(rest) else 0.0
        )
    return auc(held_out, TagScorer.fit(positives, negatives, config).log_odds(negatives))


def tag_log_odds(
    positives: np.ndarray, negatives: np.ndarray, vectors: np.ndarray, config: ProbeConfig = ProbeConfig()
) -> np.ndarray:
    """TagScorer's log-odds of `vectors`, fitted and applied in one call."""
    return TagScorer.fit(positives, negatives, config).log_odds(vectors)


__all__ = [
    "Probe",
    "ProbeConfig",
    "TagScorer",
    "auc",
    "average_precision",
    "cache_affinity",
    "calibration",
    "cross_fitted_probe",
    "fit_probe",
    "held_out_auc",
    "mixed_probe",
    "prototype_probe",
    "prototype_scores",
    "soft_max",
    "tag_log_odds",
]
