"""The instant tag scorer on vectors whose geometry is known: a tag with two looks, and decoys
between them where a single direction (the prototype) points."""

from __future__ import annotations

import numpy as np
import pytest
from personal_world import average_precision

from engine.tag_scoring import (
    ProbeConfig,
    cache_affinity,
    calibration,
    cross_fitted_probe,
    fit_probe,
    prototype_scores,
    tag_log_odds,
)
from engine.tags import look_alikes, text_trust


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _two_looks(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, set[int]]:
    """Tagged vectors around two looks a and b; a library of untagged photos of both looks,
    decoys around (a + b) / 2 (where the tagged photos' mean points) and unrelated photos."""
    rng = np.random.default_rng(seed)
    dim = 32
    a, b = _unit(rng.normal(size=dim)), _unit(rng.normal(size=dim))

    def around(centre: np.ndarray, n: int, spread: float = 0.6) -> np.ndarray:
        return _unit(centre + spread * rng.normal(size=(n, dim)) / np.sqrt(dim))

    tagged = np.concatenate([around(a, 15), around(b, 15)])
    library = np.concatenate(
        [around(a, 8), around(b, 8), around(_unit(a + b), 30), _unit(rng.normal(size=(120, dim)))]
    )
    return tagged, library, library, set(range(16))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cache_finds_each_look_where_the_prototype_finds_the_decoys(seed):
    tagged, negatives, library, relevant = _two_looks(seed)
    ours = average_precision(tag_log_odds(tagged, negatives, library), relevant)
    prototype = average_precision(prototype_scores(tagged, library), relevant)
    probe_only = average_precision(
        tag_log_odds(tagged, negatives, library, ProbeConfig(cache_weight=0.0)), relevant
    )
    assert ours > prototype + 0.2, (ours, prototype)
    assert ours > probe_only, (ours, probe_only)


def test_a_scorer_that_does_not_separate_says_nothing():
    """Calibration maps the classes' means to -2 and +2; where the tagged photos score no higher
    than the library (a cache of a few photos on a model at random init did), its slope is 0, not
    the 4e9 that buried the probe beside it."""
    assert calibration(np.array([0.2, 0.6]), np.array([0.1, 0.3]))[1] == pytest.approx(4 / 0.2)
    assert calibration(np.array([0.4, 0.4]), np.array([0.3, 0.5]))[1] == 0.0
    assert calibration(np.array([0.3]), np.array([0.5]))[1] == 0.0
    assert calibration(np.array([0.5 + 1e-9]), np.array([0.5]))[1] == 0.0


def test_scores_are_calibrated_log_odds():
    tagged, negatives, library, _ = _two_looks(4)
    # Both scorers map the negatives' mean to -2, so their mix does too.
    assert float(tag_log_odds(tagged, negatives, negatives).mean()) == pytest.approx(-2.0, abs=1e-3)
    # Tagged photos, each scored by a cache without itself, sit near +2, not far above.
    config = ProbeConfig(cache_weight=1.0)
    middle = cache_affinity(tagged, tagged, config.sharpness, own=True).mean()
    assert float(cache_affinity(tagged, tagged, config.sharpness).mean()) > middle


def test_cache_leaves_a_tagged_photo_out_of_its_own_score():
    keys = _unit(np.eye(3, dtype=np.float32) + 0.01)
    own = cache_affinity(keys, keys, 30.0, own=True)
    others = np.array(
        [cache_affinity(np.delete(keys, i, axis=0), keys[i : i + 1], 30.0)[0] for i in range(3)]
    )
    # log mean over the 3 keys with one left at exp(-inf) = 0: log(2/3) below the mean over the others.
    assert own == pytest.approx(others + np.log(2 / 3), abs=1e-4)



@pytest.mark.parametrize("seed", [5, 6])
def test_a_text_that_only_knows_the_coarse_look_earns_no_trust_against_the_look_alikes(seed):
    tagged, _, library, _ = _two_looks(seed)
    negatives = library[16:]  # decoys (30), then unrelated photos
    hard = look_alikes(tagged, negatives)
    assert len(hard) == 20
    decoys = {v.tobytes() for v in negatives[:30]}
    assert sum(v.tobytes() in decoys for v in hard) >= 18
    # The tagged photos' mean direction (where a name learnt in-sample may point) ranks them above
    # most of the library, but not above the photos the tag's own scorer ranks highest: against
    # those it adds nothing to the tag's probe and cache, and earns no trust.
    coarse = _unit(tagged.mean(axis=0))
    assert text_trust(coarse, tagged, negatives) > 0.3
    assert text_trust(coarse, tagged, hard) < 0.05
    # A text that does tell one look's tagged photos (the first 15) from the decoys keeps its trust.
    assert text_trust(_unit(tagged[:15].mean(axis=0)), tagged[:15], hard) > 0.55


@pytest.mark.parametrize("seed", [5, 6])
def test_the_look_alikes_stay_the_photos_beside_the_tag_in_a_large_library(seed):
    """In a library of thousands, a tenth of it is mostly photos nothing ranks beside the tag:
    against those the tagged photos' mean direction earned trust (0.2 to 0.55 on the personal
    worlds with 1500 generic scenes, where search trusting it lost up to 0.17 AP after training).
    The look-alikes are capped: still the decoys, and still no trust."""
    tagged, _, library, _ = _two_looks(seed)
    rng = np.random.default_rng(seed)
    negatives = np.concatenate([library[16:], _unit(rng.normal(size=(3000, tagged.shape[1])))])
    hard = look_alikes(tagged, negatives)
    decoys = {v.tobytes() for v in negatives[:30]}
    assert text_trust(_unit(tagged.mean(axis=0)), tagged, hard) < 0.05
    assert sum(v.tobytes() in decoys for v in hard) >= 28
    assert len(hard) <= 40


@pytest.mark.parametrize("dim", [20, 300])
def test_the_probe_is_the_same_ridge_with_more_features_than_vectors(dim):
    """A window's template has more features than a tag has photos (9 cells x 512 at ViT-B-32
    sizes): the probe then solves the system of the vectors, not of the features, to the same
    weights."""
    rng = np.random.default_rng(dim)
    positives, negatives = rng.normal(1.0, 1.0, (12, dim)), rng.normal(0.0, 1.0, (40, dim))
    x = np.concatenate([positives, negatives])
    y = np.concatenate([np.ones(12), -np.ones(40)])
    w = np.concatenate([np.full(12, 0.5 / 12), np.full(40, 0.5 / 40)])
    centred = x - w @ x
    gram = (centred * w[:, None]).T @ centred
    ridge = 0.3 * np.trace(gram) / dim
    want = np.linalg.solve(gram + ridge * np.eye(dim), centred.T @ (w * y))
    assert np.allclose(fit_probe(positives, negatives).weights, want, rtol=1e-4, atol=1e-6)


def test_a_cross_fitted_probe_is_calibrated_on_vectors_it_never_saw():
    """With more features than vectors a probe separates its own vectors better than new ones:
    scaled by its own, new positives' log-odds fall short of +2 (1.2 to 1.3 here). Scaled by
    cross-fitting, both classes' new vectors sit near +-2, as every other scorer's do."""
    rng = np.random.default_rng(5)
    dim = 400
    centre = rng.normal(0.0, 1.0, dim) / np.sqrt(dim)

    def draw(n: int, shift: float) -> np.ndarray:
        return shift * centre + rng.normal(0.0, 1.0, (n, dim)) / np.sqrt(dim)

    positives, negatives = draw(20, 0.5), draw(80, 0.0)
    new_positives, new_negatives = draw(200, 0.5), draw(200, 0.0)

    def means(probe) -> tuple[float, float]:
        return tuple(float((probe.slope * probe.logits(v)).mean()) for v in (new_positives, new_negatives))

    pos, neg = means(cross_fitted_probe(positives, negatives, 1.0))
    assert abs(pos - 2.0) < 0.3 and abs(neg + 2.0) < 0.3, (pos, neg)
    in_sample, _ = means(fit_probe(positives, negatives, 1.0))
    assert in_sample < 1.5, in_sample


def _world_vectors(encoder, seed: int, photos: int) -> tuple[np.ndarray, np.ndarray, set[int]]:
    """A personal world of one concept (tests/personal_world.py) with `photos` tagged: the tagged
    photos' vectors, the library's, and which library photos show the concept."""
    from personal_world import make_concepts, personal_world

    world = personal_world(make_concepts(["rex"], seed), seed=seed, tagged=photos)

    def vectors(shown) -> np.ndarray:
        return encoder.encode_images(np.stack([encoder.preprocess_array(p.image) for p in shown]))

    return vectors(world.tagged["rex"]), vectors(world.library), world.relevant("rex")


@pytest.mark.parametrize("photos", [3, 5])
def test_a_few_tagged_photos_find_their_look_alikes_as_their_mean_does(personal_encoder, photos):
    """A probe fitted on a few photos ranks their untagged look-alikes below the photos' mean (the
    prototype) does; below full_probe photos the prototype takes the rest of the linear scorer."""
    ours, probe_led, prototype = [], [], []
    for seed in (201, 202, 203, 204):
        tagged, library, relevant = _world_vectors(personal_encoder, seed, photos)
        ours.append(average_precision(tag_log_odds(tagged, library, library), relevant))
        led = tag_log_odds(tagged, library, library, ProbeConfig(full_probe=1))
        probe_led.append(average_precision(led, relevant))
        prototype.append(average_precision(prototype_scores(tagged, library), relevant))
    ours_mean, led_mean, prototype_mean = np.mean(ours), np.mean(probe_led), np.mean(prototype)
    assert ours_mean > led_mean + 0.03, (ours, probe_led)
    assert ours_mean > prototype_mean - 0.02, (ours, prototype)
