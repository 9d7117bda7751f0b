"""Which signal tells copies of a photo from different photos, and where to put the threshold.

Generated photo-like pictures (tests/photo_variants.py): each base gets five copies (resized,
JPEG quality 30, 5% crop, colour shift, next burst frame) and one distinct photo of the same place.
For the perceptual hash and for the vectors of the tiny test model (pretrained on synthetic scenes
by tests/fixtures/pretrain_tiny.py, or random weights; the shipped CLIP model cannot be downloaded
here), prints how close each kind of copy is, how close the
same-place photos come, the best pair threshold, and the group precision and recall of
engine/duplicates.py at its default threshold.

    PYTHONPATH=$PWD python benchmarks/duplicates_quality.py --bases 40
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch

from engine.config import ModelSpec
from engine.duplicates import DEFAULT_THRESHOLD, DuplicateSettings, candidate_pairs, group_labels
from engine.encoder import Encoder
from engine.phash import perceptual_hash, similarity
from engine.vector_index import VectorIndex
from tests.photo_variants import COPY_KINDS, make_bases, make_copies, make_neighbour


def best_threshold(scores: np.ndarray, positive: np.ndarray) -> tuple[float, float, float, float]:
    """(F1, threshold, precision, recall) of the pair threshold with the best F1."""
    best = (0.0, 0.0, 0.0, 0.0)
    for t in np.unique(np.round(scores, 3)):
        predicted = scores >= t
        tp = int((predicted & positive).sum())
        fp = int((predicted & ~positive).sum())
        fn = int((~predicted & positive).sum())
        f1 = 2 * tp / max(2 * tp + fp + fn, 1)
        if f1 > best[0]:
            best = (f1, float(t), tp / max(tp + fp, 1), tp / max(tp + fn, 1))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bases", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--weights",
        default="tests/assets/pretrained-tiny.safetensors",
        help="tiny-model checkpoint for the vectors ('none': random weights)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed + 1)
    images, family, kind = [], [], []
    for i, base in enumerate(make_bases(args.bases, args.seed)):
        for name, image in [("base", base.image), *make_copies(base, rng).items()]:
            images.append(image)
            family.append(i)
            kind.append(name)
        images.append(make_neighbour(base, rng))
        family.append(-1 - i)
        kind.append("same place")
    fam, kinds = np.array(family), np.array(kind)
    weights = None if args.weights == "none" else args.weights
    encoder = Encoder.load(ModelSpec("tests/assets/tiny-clip.json", weights), "cpu")
    with torch.no_grad():
        vectors = encoder.encode_images(torch.stack([encoder.preprocess_image(im) for im in images]))
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    hashes = np.array([perceptual_hash(im) for im in images], dtype=np.int64)
    signals = {
        "perceptual hash": similarity(hashes[:, None], hashes[None, :]),
        f"tiny-model cosine ({'random weights' if weights is None else 'pretrained on synthetic scenes'})": unit
        @ unit.T,
    }
    upper = np.triu_indices(len(images), 1)
    positive = (fam[:, None] == fam[None, :])[upper]
    same_place = ((fam[:, None] == -1 - fam[None, :]) | (fam[None, :] == -1 - fam[:, None]))[upper]
    print(f"{len(images)} pictures: {args.bases} bases x (1 + {len(COPY_KINDS)} copies + 1 same-place photo)")
    for name, matrix in signals.items():
        print(f"\n{name}")
        for k in COPY_KINDS:
            pairs = (kinds[:, None] == "base") & (kinds[None, :] == k) & (fam[:, None] == fam[None, :])
            print(f"  base vs {k:8s} min {matrix[pairs].min():.3f}  median {np.median(matrix[pairs]):.3f}")
        scores = matrix[upper]
        print(f"  same-place photos  max {scores[same_place].max():.3f}  median {np.median(scores[same_place]):.3f}")
        print(f"  unrelated photos   max {scores[~positive & ~same_place].max():.3f}")
        f1, t, p, r = best_threshold(scores, positive)
        print(f"  best pair threshold {t:.3f}: F1 {f1:.3f} (precision {p:.3f}, recall {r:.3f})")

    labels = np.arange(len(images))
    index = VectorIndex.build(labels, vectors, vectors.shape[1])
    pairs = candidate_pairs(index)
    by_label = dict(zip(labels.tolist(), hashes.tolist(), strict=True))
    print("\nengine/duplicates.py groups (graph edges and equal hashes as candidates, hash decides):")
    for threshold in sorted({0.75, 0.8, DEFAULT_THRESHOLD, 0.9}):
        groups = group_labels(labels, pairs, by_label, index.vectors, DuplicateSettings(threshold))
        predicted = {frozenset(p) for g in groups for p in itertools.combinations(g, 2)}
        truth = {frozenset((int(a), int(b))) for a, b in zip(*upper, strict=True) if fam[a] == fam[b]}
        hit = len(predicted & truth)
        whole = sum(1 for f in range(args.bases) if any(set(np.nonzero(fam == f)[0]) <= set(g) for g in groups))
        print(
            f"  threshold {threshold:.2f}{' (default)' if threshold == DEFAULT_THRESHOLD else ''}: pair precision {hit / max(len(predicted), 1):.3f},"
            f" recall {hit / len(truth):.3f}; {whole}/{args.bases} families found whole"
        )


if __name__ == "__main__":
    main()
