"""Crash safety: kill -9 at every commit point of every user-visible change, then check the library.

For each operation (indexing, a rescan, a model switch, a text-side switch, creating, activating
and rolling back a model version, adding and removing a folder) a child process is killed just
before each of its commits, and just after its last one (tests/engine/fault_driver.py). Each
killed library must then open, pass the consistency check, have an index that agrees with the
store and exactly one model answering searches, and answer a search; a killed indexing run must
resume to the same result as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.library import Library
from engine.search import Query
from engine.storage.check import problems
from trainer.versions import active_version, list_versions

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("fault_driver.py")
TEMPLATE = {
    "index": "empty",
    "rescan": "rescan",
    "model_switch": "indexed",
    "text_switch": "indexed",
    "create_version": "indexed",
    "activate": "indexed",
    "rollback": "indexed",
    "folder_add": "indexed",
    "folder_remove": "indexed",
}
A = ["Canon_40D.jpg", "Nikon_D70.jpg", "Pentax_K10D.jpg", "Sony_HDR-HC3.jpg"]
B = ["Kodak_CX7530.jpg", "Olympus_C8080WZ.jpg"]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the driver forks")


def copy_photos(sample_photos: Path, folder: Path, names: list[str]) -> str:
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(sample_photos / "jpg" / name, folder / name)
    return str(folder)


@pytest.fixture(scope="module")
def plan(tmp_path_factory, sample_photos, tiny_encoder, tiny_config) -> dict:
    """Photo folders, the libraries the operations start from, and the models they switch to."""
    root = tmp_path_factory.mktemp("faults")
    folder_a = copy_photos(sample_photos, root / "photos" / "a", A)
    folder_b = copy_photos(sample_photos, root / "photos" / "b", B)
    folder_c = copy_photos(sample_photos, root / "photos" / "c", A)
    templates = root / "templates"
    with Library(templates / "empty", encoder=tiny_encoder):
        pass
    with Library(templates / "indexed", encoder=tiny_encoder) as library:
        library.add_folders([folder_a])
        library.index()
    with Library(templates / "rescan", encoder=tiny_encoder) as library:
        library.add_folders([folder_c])
        library.index()
    c = Path(folder_c)  # then, on disk: one photo deleted, one changed, one added
    (c / A[0]).unlink()
    shutil.copy(sample_photos / "jpg" / B[0], c / A[1])
    shutil.copy(sample_photos / "jpg" / B[1], c / "new.jpg")
    for name in ("switch", "text"):  # other model keys: same architecture, a different name
        shutil.copy(tiny_config, root / f"tiny-{name}.json")
    return {
        "root": str(root),
        "folder_a": folder_a,
        "folder_b": folder_b,
        "switch_config": str(root / "tiny-switch.json"),
        "text_config": str(root / "tiny-text.json"),
        "templates": {scenario: str(templates / name) for scenario, name in TEMPLATE.items()},
    }


def drive(plan: dict, cases: list[dict], name: str) -> list[dict]:
    work = Path(plan["root"]) / name
    work.mkdir()
    for i, case in enumerate(cases):
        case["library"] = str(work / f"{i}-{case['scenario']}-{case['kill_at']}{'a' if case['after'] else 'b'}")
    (work / "plan.json").write_text(json.dumps({**plan, "cases": cases}))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(DRIVER), str(work / "plan.json"), str(work / "results.json")],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads((work / "results.json").read_text())


def check(path: str, encoder) -> None:
    """What must hold after any crash. `encoder` is the tiny model, shared where the library uses it."""
    with Library(path, encoder=encoder) as library:
        model, target = library.model, library.target_model
        assert problems(library.store.db, model.key, target.key) == []
        assert library.vector_index.labels() == library.store.vectors.labels(model.key)
        counts = library.store.photos.counts(target.key)  # the model being switched to, if any
        assert counts["photos"] + counts["failed"] + counts["pending"] == counts["total"]
        status = library.status()
        # Exactly one model answers searches, and it can be loaded: its checkpoint is there.
        for spec in {model, target}:
            if spec.pretrained:
                assert Path(spec.pretrained).is_file(), spec
        active = active_version(library)
        assert [v.version for v in list_versions(library) if v.active] == ([active] if active else [])
        hits = library.search(Query(text="a photo", k=100))
        assert len(hits) == status.photos and len({h.path for h in hits}) == len(hits)


def test_kill_at_every_commit_point(plan, tiny_encoder, record_property):
    scenarios = list(TEMPLATE)
    dry = drive(plan, [{"scenario": s, "kill_at": 0, "after": False} for s in scenarios], "dry")
    commits = {}
    for result in dry:  # uninterrupted: each operation completes and leaves a consistent library
        assert result["exit"] == 0 and result["error"] is None, result
        assert result["commits"] >= 1, result
        commits[result["scenario"]] = result["commits"]
        check(result["library"], tiny_encoder)
    cases = [
        {"scenario": s, "kill_at": n, "after": after}
        for s in scenarios
        for n in range(1, commits[s] + 1)
        for after in ([False, True] if n == commits[s] else [False])
    ]
    results = drive(plan, cases, "kills")
    for result in results:
        assert result["killed"] and result["error"] is None, result
        check(result["library"], tiny_encoder)
    resumed = [r for r in results if r["scenario"] == "index"]
    for result in resumed:  # an interrupted first indexing run resumes to the full library
        with Library(result["library"], encoder=tiny_encoder) as library:
            library.add_folders([plan["folder_a"]])
            library.index()
            assert library.status().photos == len(A)
    assert {r["scenario"] for r in results} == set(scenarios)
    print(f"kill points covered: {len(results)} ({commits})")
    record_property("kill_points", len(results))
    assert len(results) >= 20
