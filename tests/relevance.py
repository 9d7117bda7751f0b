"""Where the matches end, measured: a held-out world of generic scenes, queries with known answers,
the F1 of a returned set against an oracle's best threshold, and simple cut-offs to compare with.

Used by tests/engine/test_relevance.py and benchmarks/search_relevance.py. The world is drawn from
the same kinds of objects the pretrained tiny model saw (tests/world.py) but from seeds it never
saw, without accents (so a colour word's truth is plain), with one colour and one shape common
(queries that match most photos) and one colour absent (queries that match nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from world import Scene, Thing, random_boxes, render

# Object colours and shapes of the held-out world, with their odds; "orange" and "purple" never occur.
COLOUR_ODDS = {"blue": 0.5, "red": 0.2, "green": 0.15, "yellow": 0.1, "white": 0.05}
SHAPE_ODDS = {"circle": 0.45, "square": 0.25, "triangle": 0.2, "diamond": 0.1}
# (query text, what a matching photo holds: (colour or None, shape or None, pattern or None)).
QUERIES: tuple[tuple[str, tuple[str | None, str | None, str | None]], ...] = (
    ("blue", ("blue", None, None)),  # matches most photos
    ("a circle", (None, "circle", None)),  # matches most photos
    ("red", ("red", None, None)),
    ("green", ("green", None, None)),
    ("a square", (None, "square", None)),
    ("a diamond", (None, "diamond", None)),
    ("striped", (None, None, "striped")),
    ("a red circle", ("red", "circle", None)),
    ("a blue square", ("blue", "square", None)),
    ("a green triangle", ("green", "triangle", None)),
    ("a yellow diamond", ("yellow", "diamond", None)),
    ("orange", ("orange", None, None)),  # no true match
    ("a purple square", ("purple", "square", None)),  # no true match
    ("a dog", ("dog", None, None)),  # no true match, and a word the model never saw
)


def heldout_scenes(n: int, seed: int) -> list[Scene]:
    """`n` scenes of zero (10%), one (50%) or two (40%) objects of distinct colours."""
    rng = np.random.default_rng(seed)
    scenes = []
    for _ in range(n):
        count = int(rng.choice([0, 1, 2], p=[0.1, 0.5, 0.4]))
        colours = rng.choice(list(COLOUR_ODDS), size=count, replace=False, p=list(COLOUR_ODDS.values()))
        things = []
        for colour, box in zip(colours, random_boxes(rng, count), strict=True):
            shape = str(rng.choice(list(SHAPE_ODDS), p=list(SHAPE_ODDS.values())))
            pattern = "plain" if rng.random() < 0.6 else str(rng.choice(["striped", "dotted"]))
            things.append(Thing(str(colour), shape, pattern, box))
        image, masks = render(rng, things)
        scenes.append(Scene(image, tuple(things), "", tuple(masks)))
    return scenes


def truth(scenes: Sequence[Scene], wanted: tuple[str | None, str | None, str | None]) -> np.ndarray:
    colour, shape, pattern = wanted
    return np.array(
        [
            any(
                (colour is None or t.colour == colour)
                and (shape is None or t.shape == shape)
                and (pattern is None or t.pattern == pattern)
                for t in s.things
            )
            for s in scenes
        ]
    )


def echo_world() -> tuple[Callable[[list[str]], np.ndarray], list[str], np.ndarray]:
    """A hand-made text encoder, generic bank and 40 photo vectors (20 red, then 20 blue) where
    "orange" only echoes red: it sits between red and a direction no photo has, so it beats the bank
    on the red photos without describing them. A text's vector is its phrase's, else the sum of its
    known words' (templates such as "a photo of a {}." add nothing), else the generic direction."""
    dim = 16
    axes = np.eye(dim)
    generic = axes[0]
    words = {"red": axes[1], "blue": axes[2], "circle": axes[3], "orange": 0.55 * axes[1] + 0.45 * axes[4]}
    phrases = {"a red circle": axes[1] * 0.9 + axes[3] * 0.1}
    bank = [f"generic {i}" for i in range(12)]
    phrases.update({text: generic + 0.3 * axes[5 + i % 10] for i, text in enumerate(bank)})

    def vector(text: str) -> np.ndarray:
        if text in phrases:
            return phrases[text]
        found = [words[w] for w in text.replace(".", " ").split() if w in words]
        return np.sum(found, axis=0) if found else generic

    def encode(texts: list[str]) -> np.ndarray:
        return np.stack([vector(t) / np.linalg.norm(vector(t)) for t in texts]).astype(np.float32)

    rng = np.random.default_rng(0)
    photos = np.concatenate([np.tile(axes[1], (20, 1)), np.tile(axes[2], (20, 1))]) + 0.5 * generic
    photos += 0.05 * rng.normal(size=(40, dim))
    return encode, bank, (photos / np.linalg.norm(photos, axis=1, keepdims=True)).astype(np.float32)


# -- measures ------------------------------------------------------------------------------------


def f1(returned: np.ndarray, relevant: np.ndarray) -> float:
    """F1 of a returned set; returning nothing for a query with no true match scores 1."""
    if not returned.any():
        return 1.0 if not relevant.any() else 0.0
    hits = int((returned & relevant).sum())
    return 2 * hits / (int(returned.sum()) + int(relevant.sum()))


def oracle_f1(scores: np.ndarray, relevant: np.ndarray) -> float:
    """The best F1 any single threshold on this ranking reaches (returning nothing included)."""
    best = 1.0 if not relevant.any() else 0.0
    if relevant.any():
        hits = np.cumsum(relevant[np.argsort(-scores, kind="stable")])
        best = max(best, float((2 * hits / (np.arange(1, len(scores) + 1) + relevant.sum())).max()))
    return best


def average_precision(scores: np.ndarray, relevant: np.ndarray) -> float:
    if not relevant.any():
        return float("nan")
    hits = relevant[np.argsort(-scores, kind="stable")]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


# -- simple cuts to compare with -------------------------------------------------------------------


def otsu_cut(scores: np.ndarray) -> np.ndarray:
    from engine.categories import otsu_threshold

    return scores > otsu_threshold(scores)


def gmm_cut(scores: np.ndarray, iterations: int = 200) -> np.ndarray:
    """The photos a two-component Gaussian mixture puts in its upper component."""
    s = scores.astype(np.float64)
    means = np.percentile(s, [25, 75])
    variances = np.full(2, s.var() / 2 + 1e-9)
    weights = np.array([0.5, 0.5])
    for _ in range(iterations):
        log_p = -0.5 * (s[:, None] - means) ** 2 / variances - 0.5 * np.log(variances) + np.log(weights)
        log_p -= log_p.max(axis=1, keepdims=True)
        r = np.exp(log_p)
        r /= r.sum(axis=1, keepdims=True)
        n = r.sum(axis=0) + 1e-9
        weights, means = n / n.sum(), (r * s[:, None]).sum(axis=0) / n
        variances = (r * (s[:, None] - means) ** 2).sum(axis=0) / n + 1e-9
    return r[:, int(np.argmax(means))] > 0.5


def softmax_cut(scores: np.ndarray, background: np.ndarray, scale: float = 100.0) -> np.ndarray:
    """Per photo, softmax of the query against background texts' scores (N, B): above one half."""
    logits = np.concatenate([scores[:, None], background], axis=1) * scale
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p[:, 0] / p.sum(axis=1) > 0.5


GENERIC_PROMPTS = (
    "a photo.",
    "a picture.",
    "an image.",
    "a photo of something.",
    "a picture of something.",
    "a snapshot.",
    "a photo of an object.",
    "a photo of a thing.",
    "something.",
    "an object.",
)


@dataclass(frozen=True)
class Outcome:
    """Per query: the method's F1 and the oracle's; `ratio` is mean F1 over mean oracle F1."""

    f1: list[float]
    oracle: list[float]

    @property
    def ratio(self) -> float:
        return float(np.mean(self.f1) / np.mean(self.oracle))


def evaluate(
    cut: Callable[[int, np.ndarray], np.ndarray], scores: np.ndarray, ranking: np.ndarray, relevant: np.ndarray
) -> Outcome:
    """cut(q, scores[q]) -> returned (N,) bool; the oracle is the better of the raw ranking's and
    `ranking`'s (the ranking the method returns) best single threshold, per query."""
    f1s, oracles = [], []
    for q in range(len(scores)):
        f1s.append(f1(cut(q, scores[q]), relevant[q]))
        oracles.append(max(oracle_f1(scores[q], relevant[q]), oracle_f1(ranking[q], relevant[q])))
    return Outcome(f1s, oracles)


# -- feedback to compare with -------------------------------------------------------------------


def rocchio(query: np.ndarray, good: np.ndarray, bad: np.ndarray, beta: float = 0.75, gamma: float = 0.15) -> np.ndarray:
    """The classic Rocchio update of a query vector: towards the good photos' mean, away from the bad's."""
    return query / np.linalg.norm(query) + beta * good.mean(axis=0) - gamma * bad.mean(axis=0)


def cross_fitted_probe(photos: np.ndarray, relevant: np.ndarray, ridge: float = 0.01, steps: int = 30) -> np.ndarray:
    """Scores of a ridge logistic regression (Newton steps) fitted on the true labels of every other
    photo and applied to the rest, both ways: how far the stored vectors could take a query."""
    x = np.concatenate([photos, np.ones((len(photos), 1))], axis=1).astype(np.float64)
    y = relevant.astype(np.float64)
    scores = np.zeros(len(photos))
    halves = (np.arange(0, len(photos), 2), np.arange(1, len(photos), 2))
    for train, test in (halves, halves[::-1]):
        w = np.zeros(x.shape[1])
        for _ in range(steps):
            p = 1.0 / (1.0 + np.exp(-np.clip(x[train] @ w, -30, 30)))
            hessian = x[train].T @ (x[train] * (p * (1 - p) + 1e-6)[:, None]) + ridge * np.eye(len(w))
            w -= np.linalg.solve(hessian, x[train].T @ (p - y[train]) + ridge * w)
        scores[test] = x[test] @ w
    return scores


# -- one measured run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feedback:
    """One query's average precision over the unmarked photos: before marks, after 3 good + 3 bad
    marks (ours), and after the same marks with Rocchio; and the gain of a linear probe trained on
    the true labels of half the photos (scored on the other half): what the stored vectors allow."""

    query: str
    before: float
    after: float
    rocchio: float
    probe_gain: float


@dataclass(frozen=True)
class Measured:
    methods: dict[str, Outcome]  # ours ("no_history", "past_searches", variants) and simple cuts
    feedback: list[Feedback]
    queries: list[str]
    positives: list[int]


def table_of(vectors: np.ndarray):
    """A PhotoTable of these photo vectors (paths /heldout/NNN.png, all taken at time 0)."""
    from engine.photo_table import PhotoTable

    n = len(vectors)
    return PhotoTable(
        ("heldout", n),
        np.arange(n, dtype=np.int64),
        vectors.astype(np.float32),
        np.ones(n, np.int64),
        np.zeros(n),
        tuple(f"h{i}" for i in range(n)),
        tuple((f"/heldout/{i:03d}.png",) for i in range(n)),
    )


def cut_methods(encoder, seed, texts, queries, photos, relevant, scores, z, table, rows) -> dict[str, Outcome]:
    """Every query cut by each method: ours with and without rivals and past searches, simple cuts."""
    from engine.calibration import Calibrator
    from engine.lexicon import LEXICON, lexicon_without

    def cut_with(lexicon: Sequence[str] = LEXICON, history: Sequence[str] = ()) -> np.ndarray:
        """Log-odds of every query as search has them, with these built-in rivals and past searches."""
        made = Calibrator(encoder.encode_texts, rivals=lambda: history, lexicon=lexicon)
        return np.stack([made.logits(table, rows, v, text=t) for v, t in zip(queries, texts, strict=True)])

    # A new library (no past searches): the built-in lexicon as rivals; the bank alone; the lexicon
    # without its colour words (the held-out world's queries are mostly colours).
    fresh, bank_only, no_colours = cut_with(), cut_with(()), cut_with(lexicon_without(("colours",)))
    # A user who searched for the other queries before: they are the past searches (rivals).
    rivalled, history_only = cut_with(history=texts), cut_with((), texts)
    # A shorter history: 6 of the other queries, drawn at random for each query.
    pick = np.random.default_rng(seed)
    shorter = []
    for q, (v, t) in enumerate(zip(queries, texts, strict=True)):
        past = [str(p) for p in pick.choice([o for i, o in enumerate(texts) if i != q], size=6, replace=False)]
        shorter.append(Calibrator(encoder.encode_texts, rivals=lambda past=past: past).logits(table, rows, v, text=t))
    generic = photos @ encoder.encode_texts(list(GENERIC_PROMPTS)).T
    scale = float(encoder.model.logit_scale.detach().exp()) if hasattr(encoder.model, "logit_scale") else 100.0

    def others(q: int) -> np.ndarray:
        return np.delete(scores, q, axis=0).T

    return {
        "no_history": evaluate(lambda q, s: fresh[q] >= 0, scores, z, relevant),
        "no_history_no_colours": evaluate(lambda q, s: no_colours[q] >= 0, scores, z, relevant),
        "bank_only": evaluate(lambda q, s: bank_only[q] >= 0, scores, z, relevant),
        "past_searches": evaluate(lambda q, s: rivalled[q] >= 0, scores, z, relevant),
        "past_6_searches": evaluate(lambda q, s: shorter[q] >= 0, scores, z, relevant),
        "past_searches_no_lexicon": evaluate(lambda q, s: history_only[q] >= 0, scores, z, relevant),
        "otsu": evaluate(lambda q, s: otsu_cut(s), scores, z, relevant),
        "gmm": evaluate(lambda q, s: gmm_cut(s), scores, z, relevant),
        "softmax_generic": evaluate(lambda q, s: softmax_cut(s, generic, scale), scores, z, relevant),
        "other_queries": evaluate(lambda q, s: softmax_cut(s, others(q), scale), scores, z, relevant),
    }


def measure(
    encoder, seed: int, n: int = 300, marks: int = 3, feedback_weight: float = 1.0, cuts: bool = True
) -> Measured:
    """Embed a held-out world, cut every query with each method (unless not `cuts`), and mark photos
    for feedback."""
    import torch

    from engine.calibration import Calibrator
    from engine.query_words import QueryWords
    from engine.search import Pool, Query, Request
    from engine.stages import FeedbackStage

    scenes = heldout_scenes(n, seed)
    images = torch.stack([encoder.preprocess_image(s.image) for s in scenes])
    photos = np.concatenate([encoder.encode_images(images[i : i + 64]) for i in range(0, n, 64)])
    texts = [q for q, _ in QUERIES]
    queries = encoder.encode_texts(texts)
    relevant = np.stack([truth(scenes, wanted) for _, wanted in QUERIES])
    scores = queries @ photos.T
    table = table_of(photos)
    rows = np.arange(n)
    calibrator = Calibrator(encoder.encode_texts)
    z = np.stack([calibrator.z(table, rows, v) for v in queries])

    methods: dict[str, Outcome] = {}
    if cuts:
        methods = cut_methods(encoder, seed, texts, queries, photos, relevant, scores, z, table, rows)

    feedback = []
    stage = FeedbackStage(calibrator, feedback_weight)
    for q, text in enumerate(texts):
        base_ap = average_precision(z[q], relevant[q])
        if not 0.2 <= base_ap <= 0.8:
            continue  # only where the base model is mediocre
        top = np.argsort(-z[q], kind="stable")[:20]
        good = [int(i) for i in top if relevant[q, i]][:marks]
        bad = [int(i) for i in top if not relevant[q, i]][:marks]
        if len(good) < marks or len(bad) < marks:
            continue
        query = Query(
            text=text, likes=tuple(table.paths[i][0] for i in good), unlikes=tuple(table.paths[i][0] for i in bad)
        )
        request = Request(query, text, queries[q], QueryWords(text), "heldout")
        evidence = stage.evidence(request, Pool(table, rows, scores[q]))
        assert evidence is not None
        meaning = calibrator.logits(table, rows, queries[q], text=text)  # as search has them (with the lexicon)
        after = meaning + evidence.logit + 1e-6 * z[q]  # ties (clipped log-odds) by z, as the pipeline breaks them by score
        unmarked = np.setdiff1d(rows, good + bad)

        truth_unmarked = relevant[q][unmarked]
        updated = photos @ rocchio(queries[q], photos[good], photos[bad])
        feedback.append(
            Feedback(
                text,
                average_precision(z[q][unmarked], truth_unmarked),
                average_precision(after[unmarked], truth_unmarked),
                average_precision(updated[unmarked], truth_unmarked),
                average_precision(cross_fitted_probe(photos, relevant[q]), relevant[q])
                - average_precision(z[q], relevant[q]),
            )
        )
    return Measured(methods, feedback, texts, [int(r.sum()) for r in relevant])
