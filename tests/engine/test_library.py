"""The library end to end on real photos: indexing, failures, renames, deletes, search, repair."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from engine.errors import LibraryError, QueryError
from engine.library import INDEX_NAME, Library
from engine.search import Query, parse_query_text
from engine.storage.check import problems
from tests.counting import CountingEncoder


def small_folder(photos: Path, dest: Path, names: list[str]) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(photos / name, dest / Path(name).name)
    return dest


PHOTOS = [
    "jpg/Canon_40D.jpg",
    "jpg/Nikon_D70.jpg",
    "jpg/Pentax_K10D.jpg",
    "jpg/gps/DSCN0010.jpg",
    "jpg/exif-org/kodak-dc240.jpg",
    "jpg/orientation/landscape_1.jpg",
]


def consistent(library: Library) -> None:
    """The invariants a crash must never break."""
    assert problems(library.store.db, library.model.key) == []
    status = library.status()
    assert status.photos + status.failed + status.pending == status.total
    assert library.vector_index.labels() == library.store.vectors.labels(library.model.key)


def add_broken_files(folder: Path, photos: Path) -> dict[str, str]:
    """Broken files of every kind a camera card or a download folder holds: name -> expected reason."""
    data = (photos / "jpg/Canon_40D.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.jpg").write_text("not a photo at all")
    (folder / "unreadable.jpg").write_bytes(data)
    (folder / "unreadable.jpg").chmod(0)
    expected = {"truncated.jpg": "truncat", "empty.png": "empty", "notes.jpg": "not"}
    if os.geteuid() != 0:  # root reads anything
        expected["unreadable.jpg"] = "read"
    return expected


def test_indexes_every_sample_and_records_failures(make_library, photos_copy, sample_photos):
    expected = add_broken_files(photos_copy, sample_photos)
    library = make_library()
    library.add_folders([photos_copy])
    result = library.index()
    status = library.status()
    assert result.done == status.total > 40
    assert status.pending == 0
    failed = {Path(f.path).relative_to(photos_copy).as_posix(): f.reason for f in status.failures}
    for name, reason in expected.items():
        assert reason in failed[name].lower(), (name, failed.get(name))
    # the deliberately broken samples are either read or recorded with a reason; none is lost
    indexed = {h.path for h in library.search(Query(text="x", k=1000))}
    for sample in (f"jpg/invalid/{p.name}" for p in (photos_copy / "jpg/invalid").glob("*.jpg")):
        assert (str(photos_copy / sample) in indexed) != (sample in failed), sample
    assert all(reason for reason in failed.values())
    # every supported format that is not broken made it in
    for good in ["heic/IMG_5195.HEIC", "tiff/Arbitro.tiff", "jpg/mobile/jolla.jpg", "jpg/Canon_40D.jpg"]:
        assert good not in failed
    consistent(library)


def test_image_query_finds_the_photo_itself(make_library, sample_photos, tmp_path):
    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS)
    library = make_library()
    library.add_folders([folder])
    library.index()
    for name in ["Canon_40D.jpg", "DSCN0010.jpg"]:
        hits = library.search(Query(image=str(folder / name), k=3))
        assert hits[0].path == str(folder / name)
        assert hits[0].score == pytest.approx(1.0, abs=1e-3)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_rename_and_move_keep_vectors_without_reembedding(sample_photos, tmp_path, tiny_encoder):
    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS)
    counting = CountingEncoder(tiny_encoder)
    library = Library(tmp_path / "lib", encoder=counting)
    library.add_folders([folder])
    library.index()
    assert counting.embedded == len(PHOTOS)
    before = library.store.photos.by_path(str(folder / "Nikon_D70.jpg"))
    (folder / "sub").mkdir()
    os.rename(folder / "Nikon_D70.jpg", folder / "sub" / "renamed.jpg")
    library.index()
    assert counting.embedded == len(PHOTOS)  # nothing re-embedded
    after = library.store.photos.by_path(str(folder / "sub" / "renamed.jpg"))
    assert library.store.photos.by_path(str(folder / "Nikon_D70.jpg")) is None
    assert after.hash == before.hash and after.taken_at == before.taken_at
    hits = library.search(Query(image=str(folder / "sub" / "renamed.jpg"), k=1))
    assert hits[0].path == str(folder / "sub" / "renamed.jpg")
    consistent(library)
    library.close()


def test_deleted_photos_leave_search_and_changed_ones_are_reembedded(make_library, sample_photos, tmp_path):
    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS)
    library = make_library()
    library.add_folders([folder])
    library.index()
    (folder / "Canon_40D.jpg").unlink()
    shutil.copy(sample_photos / "jpg/Kodak_CX7530.jpg", folder / "Pentax_K10D.jpg")  # new content, old name
    library.index()
    paths = {h.path for h in library.search(Query(text="photo", k=100))}
    assert str(folder / "Canon_40D.jpg") not in paths
    assert len(paths) == len(PHOTOS) - 1
    hit = library.search(Query(image=str(sample_photos / "jpg/Kodak_CX7530.jpg"), k=1))[0]
    assert hit.path == str(folder / "Pentax_K10D.jpg") and hit.score > 0.999
    consistent(library)


def test_search_edge_cases(make_library, sample_photos, tmp_path):
    library = make_library()
    assert library.search(Query(text="anything")) == []  # empty library
    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS)
    library.add_folders([folder])
    library.index()
    assert len(library.search(Query(text="a cat", k=1000))) == len(PHOTOS)
    with pytest.raises(QueryError, match="not in the library"):
        library.search(Query(text="x", folder=str(tmp_path / "elsewhere")))
    with pytest.raises(QueryError):
        library.search(Query(text="   "))
    (tmp_path / "bad.jpg").write_text("not a photo")
    with pytest.raises(QueryError, match="Cannot use"):
        library.search(Query(image=str(tmp_path / "bad.jpg")))


def test_filters_by_folder_and_date(make_library, sample_photos, tmp_path):
    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS[:3])
    small_folder(sample_photos, folder / "gps", ["jpg/gps/DSCN0010.jpg", "jpg/gps/DSCN0012.jpg"])
    library = make_library()
    library.add_folders([folder])
    library.index()
    hits = library.search(Query(text="a tree", folder=str(folder / "gps"), k=10))
    assert {Path(h.path).name for h in hits} == {"DSCN0010.jpg", "DSCN0012.jpg"}
    dates = {Path(h.path).name: h.photo.taken_at for h in library.search(Query(text="x", k=10))}
    assert all(dates.values())
    cut = sorted(dates.values())[2]
    after = library.search(Query(text="x", after=cut, k=10))
    before = library.search(Query(text="x", before=cut, k=10))
    assert {h.path for h in after} | {h.path for h in before} == {h.path for h in library.search(Query(text="x", k=10))}
    assert all(h.photo.taken_at >= cut for h in after) and all(h.photo.taken_at < cut for h in before)
    assert len(before) == 2


def test_negative_terms_lower_the_score_of_matching_photos(make_library, sample_photos, tmp_path):
    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS)
    library = make_library()
    library.add_folders([folder])
    library.index()
    plain = {h.path: h.score for h in library.search(Query(text="mountains", k=10))}
    text, negatives = parse_query_text('mountains -snow -"red car"')
    assert (text, negatives) == ("mountains", ("snow", "red car"))
    minus = {h.path: h.score for h in library.search(Query(text=text, negatives=negatives, k=10))}
    encoder = library.encoder()
    neg = encoder.encode_texts(["snow", "red car"])
    for path, score in minus.items():
        vector = library.store.vectors.by_label(
            [next(iter(library.store.vectors.labels_matching(library.model.key, folder=path)))], encoder.dim
        )[0]
        expected = plain[path] - 0.5 * float(neg[0] @ vector) - 0.5 * float(neg[1] @ vector)
        assert score == pytest.approx(expected, abs=1e-4)


def test_index_file_missing_corrupt_or_stale_is_repaired(make_library, sample_photos, tmp_path):
    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS)
    library = make_library()
    library.add_folders([folder])
    library.index()
    expected = [h.path for h in library.search(Query(text="a boat", k=10))]
    library.close()
    index_file = tmp_path / "library" / INDEX_NAME
    for damage in ("delete", "garbage", "truncate"):
        if damage == "delete":
            index_file.unlink()
        elif damage == "garbage":
            index_file.write_bytes(os.urandom(5000))
        else:
            data = index_file.read_bytes()
            index_file.write_bytes(data[: len(data) // 2])
        reopened = make_library()
        assert [h.path for h in reopened.search(Query(text="a boat", k=10))] == expected
        consistent(reopened)
        reopened.close()
    # stale: the file predates a photo the store knows about
    stale = index_file.read_bytes()
    small_folder(sample_photos, folder, ["jpg/Sony_HDR-HC3.jpg"])
    reopened = make_library()
    reopened.index()
    reopened.close()
    index_file.write_bytes(stale)
    reopened = make_library()
    assert len(reopened.search(Query(text="a boat", k=10))) == len(PHOTOS) + 1
    consistent(reopened)


def test_cancel_keeps_finished_work_and_resumes(make_library, sample_photos, tmp_path):
    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS + ["jpg/Sony_HDR-HC3.jpg", "jpg/Kodak_CX7530.jpg"])
    library = make_library(batch_size=2)
    library.add_folders([folder])
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p)
        if p.phase == "indexing" and p.done >= 2:
            cancel.set()

    result = library.index(progress, cancel)
    assert result.cancelled
    partial = library.status()
    assert 0 < partial.photos < partial.total and partial.pending > 0
    consistent(library)
    result = library.index()
    assert not result.cancelled and library.status().pending == 0
    assert result.done == partial.pending
    done = [p for p in seen if p.phase == "indexing"]
    assert done and all(p.total == len(PHOTOS) + 2 and p.rate > 0 for p in done)


def test_a_library_path_that_is_a_file_is_refused_and_left_alone(tmp_path):
    from engine.library import Library

    file = tmp_path / "notes.txt"
    file.write_text("mine")
    with pytest.raises(LibraryError, match="must be a folder, and .* is a file"):
        Library(file)
    assert file.read_text() == "mine"


def test_folders(make_library, sample_photos, tmp_path):
    library = make_library()
    with pytest.raises(LibraryError, match="no such folder"):
        library.add_folders([tmp_path / "missing"])
    outer = small_folder(sample_photos, tmp_path / "outer", PHOTOS[:2])
    inner = small_folder(sample_photos, outer / "inner", PHOTOS[2:4])
    library.add_folders([inner])
    library.index()
    assert library.add_folders([outer]) == [str(outer)]
    assert library.folders() == [str(outer)]  # the parent took the child's photos over
    assert library.add_folders([inner]) == []  # already covered
    library.index()
    assert library.status().photos == 4
    # an unplugged drive forgets nothing
    shutil.move(outer, tmp_path / "unplugged")
    library.index()
    assert library.status().photos == 4
    assert not library.status().folders[0].available
    shutil.move(tmp_path / "unplugged", outer)
    library.remove_folder(outer)
    assert library.status().total == 0 and library.search(Query(text="x")) == []
    assert (outer / "Canon_40D.jpg").exists()  # the photos themselves are never touched


def test_orientations_give_the_same_vector(tiny_encoder, sample_photos):
    """The eight EXIF orientations of one photo embed (nearly) alike, and unlike the same photo
    turned or mirrored. Vectors are compared after removing the mean vector of other photos: a
    random-init model maps every photo near one direction, and the differences are what matter."""
    from engine.photos import open_image

    def embed(image):
        return tiny_encoder.encode_images(tiny_encoder.preprocess_image(image)[None])[0]

    def load(name):
        return open_image(sample_photos / name, min_size=tiny_encoder.image_size)[0]

    mean = np.mean([embed(load(f"jpg/{p.name}")) for p in sorted((sample_photos / "jpg").glob("*.jpg"))], 0)

    def similarity(a, b):
        a, b = a - mean, b - mean
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    for kind in ("landscape",):
        upright = load(f"jpg/orientation/{kind}_1.jpg")
        base = embed(upright)
        same = [similarity(embed(load(f"jpg/orientation/{kind}_{i}.jpg")), base) for i in range(2, 9)]
        wrong = [similarity(embed(upright.rotate(90, expand=True)), base), similarity(embed(upright.transpose(0)), base)]
        assert min(same) > 0.8, same
        assert min(same) > max(wrong) + 0.1, (same, wrong)


def test_model_switch_keeps_old_vectors_searchable_until_done(make_library, sample_photos, tmp_path, tiny_config):
    import torch
    from safetensors.torch import save_file

    from engine.config import ModelSpec

    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS)
    library = make_library()
    library.add_folders([folder])
    library.index()
    old_model = library.model.key
    # a "fine-tuned" checkpoint of the same architecture
    state = {k: v + 0.01 * torch.randn_like(v) for k, v in library.encoder().model.state_dict().items()}
    checkpoint = tmp_path / "tuned.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(checkpoint))
    library.set_model(ModelSpec(str(tiny_config), str(checkpoint)))
    status = library.status()
    assert status.model == old_model and status.target_model and status.pending == len(PHOTOS)
    assert len(library.search(Query(text="x", k=10))) == len(PHOTOS)  # old vectors still answer
    cancel = threading.Event()
    library.batch_size = 2
    library.index(lambda p: p.done >= 2 and cancel.set(), cancel)
    assert library.model.key == old_model  # not finished: still the old model
    assert len(library.search(Query(text="x", k=10))) == len(PHOTOS)
    library.index()
    assert library.model.key != old_model and library.status().target_model is None
    assert np.isclose(library.search(Query(image=str(folder / "Canon_40D.jpg"), k=1))[0].score, 1.0, atol=1e-3)
    assert len(library.store.vectors.models()) == 1
    consistent(library)


def test_model_switch_at_once_replaces_the_search_model_now(make_library, sample_photos, tmp_path, tiny_config):
    """When the old model cannot be loaded (the app's offline first run), a chosen file answers at once."""
    import torch
    from safetensors.torch import save_file

    from engine.config import ModelSpec

    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS)
    library = make_library()
    library.add_folders([folder])
    library.index()
    state = {k: v + 0.01 * torch.randn_like(v) for k, v in library.encoder().model.state_dict().items()}
    checkpoint = tmp_path / "chosen.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(checkpoint))
    chosen = ModelSpec(str(tiny_config), str(checkpoint))
    library.set_model(chosen, at_once=True)
    status = library.status()
    assert library.model.key == chosen.key and status.target_model is None
    assert status.pending == len(PHOTOS)  # the old vectors are gone; the next index re-embeds
    library.index()
    assert np.isclose(library.search(Query(image=str(folder / "Canon_40D.jpg"), k=1))[0].score, 1.0, atol=1e-3)
    consistent(library)


def test_a_file_that_vanishes_mid_run_is_recorded_and_then_forgotten(make_library, sample_photos, tmp_path):
    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS)
    library = make_library()
    library.add_folders([folder])
    library.scan()
    (folder / "Nikon_D70.jpg").unlink()  # after the scan saw it, before it was read
    library.index(scan=False)
    assert [(Path(f.path).name, "vanished" in f.reason) for f in library.status().failures] == [("Nikon_D70.jpg", True)]
    library.index()
    status = library.status()
    assert status.failures == [] and status.photos == len(PHOTOS) - 1


def test_a_full_disk_stops_with_a_clear_message_and_loses_nothing(make_library, photos_copy):
    library = make_library(batch_size=2)
    library.add_folders([photos_copy / "jpg"])
    library.scan()
    pages = library.store.db.execute("PRAGMA page_count").fetchone()[0]
    library.store.db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full now
    with pytest.raises(LibraryError, match="full"):
        library.index()
    library.store.db.execute("PRAGMA max_page_count = 1073741823")  # space freed
    assert library.store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    library.index()
    status = library.status()
    assert status.photos == status.total > 30
    consistent(library)


def test_switching_the_text_side_keeps_vectors_and_index(make_library, sample_photos, tmp_path, tiny_config):
    from safetensors.torch import save_file

    from engine.config import ModelSpec

    folder = small_folder(sample_photos, tmp_path / "p", PHOTOS)
    library = make_library()
    library.add_folders([folder])
    library.index()
    labels = library.store.vectors.labels(library.model.key)
    index = library.vector_index
    checkpoint = tmp_path / "text-tuned.safetensors"
    save_file({k: v.contiguous() for k, v in library.encoder().model.state_dict().items()}, str(checkpoint))
    library.switch_text_side(ModelSpec(str(tiny_config), str(checkpoint)))
    assert "text-tuned" in library.model.key
    assert library.store.vectors.labels(library.model.key) == labels  # same rows, same labels
    assert library.vector_index is index and library.status().pending == 0
    assert library.search(Query(image=str(folder / "Canon_40D.jpg"), k=1))[0].path == str(folder / "Canon_40D.jpg")
    consistent(library)
