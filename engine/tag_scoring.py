"""Training-free scoring of photos for a personal tag, from stored photo vectors alone.

The moment a user tags photos "Rex", the tagged photos' vectors (positives) and a sample of the
library's vectors (negatives: almost all of a library is not Rex) define a per-tag linear probe: a
class-balanced ridge classifier, i.e. shrinkage LDA. It learns what sets the tagged photos apart
from the rest of the library, which the plain prototype (the mean of the tagged vectors) cannot:
a photo of another red circle is close to the prototype of a red circle with a dot, but the probe
weighs the dot. Scores are calibrated to 0..1 (negatives' mean -> about 0.12, positives' mean ->
about 0.88) so they mix with a text query's cosine.

Library photos that served as negatives are scored by a probe that was told they are not Rex, and
some of them are. k-fold cross-fitting (each negative scored by a probe fitted without it) is
available, but on the benchmark it ranked worse than the one probe (five probes' scores are not on
one scale), so it is off by default. docs/personal-tags.md has the maths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ProbeConfig:
    """shrinkage: ridge strength as a share of the features' mean variance; folds: cross-fitting
    folds over the negatives; max_negatives: library sample size; seed: that sample."""

    shrinkage: float = 0.3
    folds: int = 1  # measured: 5-fold cross-fitting ranked worse than one probe (docs/personal-tags.md)
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
    centre = positives.mean(axis=0)
    return vectors @ (centre / (np.linalg.norm(centre) or 1.0))


def fit_probe(positives: np.ndarray, negatives: np.ndarray, shrinkage: float = 0.3) -> Probe:
    """Class-balanced ridge regression of +1 (positives) / -1 (negatives) on the vectors.

    Each class weighs half, whatever its size; the intercept is not penalised. The decision value
    is rescaled so the classes' weighted means sit at +-2 before the sigmoid.
    """
    if not len(positives) or not len(negatives):
        raise ValueError("a probe needs at least one positive and one negative")
    x = np.concatenate([positives, negatives]).astype(np.float64)
    y = np.concatenate([np.ones(len(positives)), -np.ones(len(negatives))])
    w = np.concatenate(
        [np.full(len(positives), 0.5 / len(positives)), np.full(len(negatives), 0.5 / len(negatives))]
    )
    mean = w @ x
    centred = x - mean
    gram = (centred * w[:, None]).T @ centred
    ridge = shrinkage * max(float(np.trace(gram)) / gram.shape[0], 1e-12)
    weights = np.linalg.solve(gram + ridge * np.eye(gram.shape[0]), centred.T @ (w * y))
    bias = -float(mean @ weights)
    pos_mean = float((positives @ weights).mean()) + bias
    neg_mean = float((negatives @ weights).mean()) + bias
    middle = (pos_mean + neg_mean) / 2
    slope = 4.0 / max(pos_mean - neg_mean, 1e-9)
    return Probe(weights.astype(np.float32), bias - middle, slope)


def probe_scores(
    positives: np.ndarray, negatives: np.ndarray, vectors: np.ndarray, config: ProbeConfig = ProbeConfig()
) -> np.ndarray:
    """Calibrated probe probabilities (0..1) of `vectors`, cross-fitted: a vector that is also one
    of the negatives (same bytes) is scored by a probe fitted without its fold."""
    rng = np.random.default_rng(config.seed)
    folds = max(1, min(config.folds, len(negatives) - 1)) if len(negatives) > 1 else 1
    fold_of_negative = rng.permutation(len(negatives)) % folds
    full = fit_probe(positives, negatives, config.shrinkage)
    out = full.probabilities(vectors)
    if folds < 2:
        return out
    where = {negatives[i].tobytes(): int(fold_of_negative[i]) for i in range(len(negatives))}
    fold_of_vector = np.array([where.get(v.tobytes(), -1) for v in vectors])
    for fold in range(folds):
        rows = fold_of_vector == fold
        if rows.any():
            probe = fit_probe(positives, negatives[fold_of_negative != fold], config.shrinkage)
            out[rows] = probe.probabilities(vectors[rows])
    return out


def tip_adapter_affinity(keys: np.ndarray, vectors: np.ndarray, sharpness: float = 5.0) -> np.ndarray:
    """Tip-Adapter's cache affinity: mean over keys of exp(-sharpness * (1 - cos))."""
    return np.exp(-sharpness * (1.0 - vectors @ keys.T)).mean(axis=1)


__all__ = [
    "Probe",
    "ProbeConfig",
    "fit_probe",
    "probe_scores",
    "prototype_scores",
    "tip_adapter_affinity",
]
