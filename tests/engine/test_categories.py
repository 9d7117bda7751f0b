"""Categories: stored definitions, live membership over the library's vectors, search within one."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from synthetic import make_dataset

from engine.categories import Categories, Category, CategoryError, Membership, ensemble_vector, otsu_threshold
from engine.library import Library
from engine.search import Query

log = logging.getLogger(__name__)


def build_scene_library(root, encoder, count: int, seed: int):
    """A library of `count` synthetic scenes on disk, indexed by `encoder`; and path -> scene."""
    folder = root / "scenes"
    folder.mkdir()
    truth = {}
    for i, scene in enumerate(make_dataset(count, seed=seed)):
        path = folder / f"scene_{i:03d}.png"
        scene.image.save(path)
        truth[str(path)] = scene
    library = Library(root / "library", encoder=encoder)
    library.add_folders([folder])
    library.index()
    return library, truth


@pytest.fixture(scope="module")
def scene_library(tmp_path_factory, pretrained_encoder):
    """120 scenes indexed by the tiny model pretrained on generic scenes (its committed weights: the
    same model on every CPU, where one trained in the test came out too weak on a CPU without
    AVX-512), shared by the tests that only read it."""
    library, truth = build_scene_library(tmp_path_factory.mktemp("categories"), pretrained_encoder, 120, seed=7)
    yield library, truth
    library.close()


@pytest.fixture(autouse=True)
def no_categories_left(request):
    """Tests on the shared library start without categories."""
    yield
    if "scene_library" in request.fixturenames:
        library, _ = request.getfixturevalue("scene_library")
        library.store.categories.clear()


def precision_recall(found: set[str], relevant: set[str]) -> tuple[float, float]:
    hit = len(found & relevant)
    return hit / max(1, len(found)), hit / max(1, len(relevant))


def test_colour_categories_collect_the_right_scenes(scene_library):
    library, truth = scene_library
    categories = Categories.for_library(library)
    figures = []
    for colour in ("red", "blue", "green", "yellow"):
        categories.add(colour)
        found = {m.path for m in categories.members(colour)}
        relevant = {p for p, s in truth.items() if colour in s.colours}
        precision, recall = precision_recall(found, relevant)
        figures.append((colour, precision, recall))
    log.warning("category precision/recall: %s", figures)
    print("category precision/recall", [(c, round(p, 3), round(r, 3)) for c, p, r in figures])
    assert np.mean([p for _, p, _ in figures]) >= 0.8
    assert np.mean([r for _, _, r in figures]) >= 0.8
    assert min(min(p, r) for _, p, r in figures) >= 0.5


def test_membership_is_sorted_and_previewable(scene_library):
    library, truth = scene_library
    categories = Categories.for_library(library)
    categories.add("reds", ["red"])
    membership = categories.membership("reds")
    assert isinstance(membership, Membership)
    assert len(membership.scores) == len(truth)
    assert np.all(np.diff(membership.scores) <= 0)
    assert membership.count_at(-10.0) == len(truth)
    assert membership.count_at(10.0) == 0
    middle = float(np.median(membership.scores))
    assert membership.count_at(middle) == int((membership.scores >= middle).sum())
    members = categories.members("reds")
    assert len(members) == membership.count
    assert [m.score for m in members] == sorted((m.score for m in members), reverse=True)
    # A fixed threshold moves membership; None goes back to automatic.
    categories.set_threshold("reds", middle)
    assert categories.membership("reds").count == membership.count_at(middle)
    categories.set_threshold("reds", None)
    assert categories.membership("reds").count == membership.count
    # Cached: the same object until something changes.
    assert categories.membership("reds") is categories.membership("reds")


def test_membership_follows_the_library(tmp_path, pretrained_encoder):
    library, truth = build_scene_library(tmp_path, pretrained_encoder, 30, seed=8)
    categories = Categories.for_library(library)
    categories.add("red")
    before = categories.membership("red")
    folder = next(iter(truth)).rsplit("/", 1)[0]
    red = next(s for s in make_dataset(40, seed=11) if "red" in s.colours and len(s.shapes) == 1)
    red.image.save(f"{folder}/new_red.png")
    library.index()
    after = categories.membership("red")
    assert after is not before
    assert len(after.scores) == len(before.scores) + 1
    assert f"{folder}/new_red.png" in {m.path for m in categories.members("red")}
    library.close()


def test_counts_are_remembered_until_the_library_or_the_album_changes(tmp_path, pretrained_encoder):
    library, truth = build_scene_library(tmp_path, pretrained_encoder, 30, seed=9)
    categories = Categories.for_library(library)
    categories.add("red")
    categories.add("blue")
    assert categories.known_counts() == {"blue": None, "red": None}  # never computed
    red = categories.membership("red").count
    assert categories.known_counts() == {"blue": None, "red": red}
    # another process (a cold CLI) reads the same count from the library, without the model
    fresh = Categories(library.store, library.model.key, lambda: pytest.fail("the model was loaded"))
    assert fresh.known_counts() == {"blue": None, "red": red}
    categories.set_threshold("red", 0.99)  # the definition changed: the count is stale
    assert categories.known_counts()["red"] is None
    assert categories.known_counts()["red"] is None
    categories.membership("red")
    assert categories.known_counts()["red"] == categories.membership("red").count
    folder = next(iter(truth)).rsplit("/", 1)[0]
    make_dataset(1, seed=12)[0].image.save(f"{folder}/new.png")
    library.index()  # the photos changed: every count is stale
    assert categories.known_counts() == {"blue": None, "red": None}
    categories.remove("red")
    assert categories.known_counts() == {"blue": None}
    library.close()


def test_search_within_a_category(scene_library):
    library, truth = scene_library
    categories = Categories.for_library(library)
    categories.add("blue")
    members = {m.path for m in categories.members("blue")}
    hits = categories.search(Query(text="red", k=500), "blue")
    assert hits and {h.path for h in hits} <= members
    assert len(hits) == len(members)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert categories.search(Query(text="red", k=3), "blue") == hits[:3]
    # Among the blue scenes, those that also hold something red rank first: far above their share.
    with_red = [("red" in truth[h.path].colours) for h in hits]
    top = with_red[: max(1, sum(with_red))]
    assert np.mean(top) >= 0.6 and np.mean(top) > np.mean(with_red) + 0.2


def test_definitions_round_trip_and_errors(make_library):
    library = make_library()
    categories = Categories.for_library(library)
    category = categories.add("  my   dog ", ["a brown labrador", " "], ["a cat"], 0.05)
    assert category.name == "my dog" and category.prompts == ("a brown labrador",)
    assert categories.get("my dog") == category
    assert categories.add("sea").prompts == ("sea",)  # the name is the description
    assert [c.name for c in categories.list()] == ["my dog", "sea"]
    with pytest.raises(CategoryError, match="already exists"):
        categories.add("sea")
    with pytest.raises(CategoryError, match="No category named 'lake'"):
        categories.get("lake")
    with pytest.raises(CategoryError):
        categories.add("   ")
    updated = categories.update("my dog", negatives=[])
    assert updated.negatives == () and updated.threshold == 0.05
    categories.remove("sea")
    assert [c.name for c in categories.list()] == ["my dog"]
    # An empty library: nothing is in, nothing fails.
    assert categories.membership("my dog").count == 0 and categories.members("my dog") == []
    # Stored in the library: a second instance sees it.
    assert Categories.for_library(library).get("my dog") == updated


def test_prompt_ensemble_and_negatives(tiny_encoder):
    seen: list[list[str]] = []

    def encode(texts):
        seen.append(list(texts))
        return tiny_encoder.encode_texts(texts)

    vector = ensemble_vector(["dog", "my cat"], encode)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert "a photo of a dog." in seen[0] and "a photo of my cat." in seen[0]
    assert "a photo of a my cat." not in seen[0]
    from engine.categories import category_vector

    plain = category_vector(Category("dog", ("dog",)), tiny_encoder.encode_texts)
    negated = category_vector(Category("dog", ("dog",), ("cat",)), tiny_encoder.encode_texts)
    cat = ensemble_vector(["cat"], tiny_encoder.encode_texts)
    assert float(negated @ cat) < float(plain @ cat)


def test_otsu_splits_two_clusters():
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0.0, 0.01, 300), rng.normal(0.1, 0.01, 60)])
    assert 0.03 < otsu_threshold(scores) < 0.07
    assert otsu_threshold(np.array([0.2])) == 0.2


def test_an_album_that_only_echoes_another_concept_stays_empty(make_library):
    """Albums use search's rivals: on hand-made vectors, "orange" beats the bank on red photos, but
    the lexicon's (or a past search's) "red" describes them better; "red" keeps its photos."""
    from relevance import echo_world, table_of

    from engine.calibration import Calibrator

    encode, bank, photos = echo_world()
    table = table_of(photos)

    class Fixed:
        def current(self):
            return table

    class Encoder:
        encode_texts = staticmethod(encode)

    def members(lexicon):
        calibrator = Calibrator(encode, bank=bank, lexicon=lexicon)
        categories = Categories(make_library().store, "hand-made", Encoder, tables=Fixed(), calibrator=calibrator)
        counts = {}
        for name in ("orange", "red"):
            labels = set(categories.membership_for(Category(name, (name,))).member_labels(None).tolist())
            counts[name] = (len(labels & set(range(20))), len(labels - set(range(20))))  # red photos, blue ones
        return counts

    assert members(lexicon=()) == {"orange": (20, 0), "red": (20, 0)}  # the bank alone
    assert members(lexicon=("red", "blue")) == {"orange": (0, 0), "red": (20, 0)}
