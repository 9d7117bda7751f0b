"""The command line as a user runs it: real photos, the tiny model, JSON output, bad input, kill -9."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(tmp_path, capsys, tiny_config):
    """Run `viewfinder ARGS` in-process against a library in tmp_path; returns (exit code, stdout, stderr)."""
    library = tmp_path / "library"

    def run_(*args: str) -> tuple[int, str, str]:
        argv = list(args)
        if args and args[0] in {"index", "search", "status"}:
            argv += ["--library", str(library)]
        if args and args[0] == "index" and "--model" not in args:
            argv += ["--model", str(tiny_config)]
        if args and args[0] == "index" and "--ocr" not in args:
            argv += ["--ocr", "off"]  # the OCR pass has its own tests (test_cli_text.py)
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run_


def test_index_search_status_json(run, photos_copy, capsys):
    code, out, err = run("index", str(photos_copy))
    assert code == 0, err
    assert "indexed" in out
    code, out, _ = run("status", "--json")
    status = json.loads(out)
    # --library goes before the command as well as after it
    assert main(["--library", str(photos_copy.parent / "library"), "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["photos"] == status["photos"]
    assert status["photos"] > 40 and status["pending"] == 0
    assert status["folders"] == [str(photos_copy)]
    assert status["photos"] + status["failed"] == status["total"]
    assert "tiny-clip" in status["model"]
    assert isinstance(status["failures"], list)
    code, out, _ = run("search", "a red car", "-k", "5", "--json", "--all")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 5
    assert all({"path", "score", "relevance", "match", "matched"} <= set(h) for h in hits)
    assert [h["relevance"] for h in hits] == sorted((h["relevance"] for h in hits), reverse=True)
    assert all(os.path.isabs(h["path"]) and os.path.exists(h["path"]) for h in hits)
    target = photos_copy / "jpg" / "gps" / "DSCN0021.jpg"
    code, out, _ = run("search", "--image", str(target), "-k", "1", "--json", "--all")
    assert json.loads(out)[0]["path"] == str(target)
    code, out, _ = run("search", "dog", "--folder", str(photos_copy / "heic"), "--json", "-k", "50", "--all")
    assert {Path(h["path"]).parent.name for h in json.loads(out)} == {"heic"}
    code, out, _ = run("search", "dog", "--after", "2030-01-01", "--json")
    assert json.loads(out) == []
    code, out, _ = run("search", "dog -cat", "--not", "tree", "-k", "3", "--all")
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 4 and "weaker results" in lines[-1]


def test_reindex_is_incremental(run, photos_copy, capsys):
    run("index", str(photos_copy / "jpg" / "gps"))
    code, out, _ = run("index", str(photos_copy / "jpg" / "gps"))
    assert code == 0 and "(0 processed this run)" in out
    shutil.copy(photos_copy / "jpg" / "Canon_40D.jpg", photos_copy / "jpg" / "gps" / "new.jpg")
    code, out, _ = run("index", str(photos_copy / "jpg" / "gps"))
    assert "(1 processed this run)" in out
    # Without a folder, `index` brings the library's own folders up to date (what the app says to run
    # after switching models), and a library without folders says how to add one.
    shutil.copy(photos_copy / "jpg" / "Canon_40D.jpg", photos_copy / "jpg" / "gps" / "newer.jpg")
    code, out, _ = run("index")
    assert code == 0 and "(1 processed this run)" in out
    code, out, err = main(["index", "--library", str(photos_copy.parent / "empty")]), *capsys.readouterr()
    assert code == 1 and "no library at" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["index", "/no/such/folder"], "not a folder"),
        (["search"], "give a query"),
        (["search", "x", "--image", "/no/such.jpg"], "no such file"),
        (["search", "x", "--folder", "/somewhere/else"], "not in the library"),
        (["search", "x", "-k", "0"], "-k"),
        (["search", "x", "--after", "2020-02-01", "--before", "2020-01-01"], "--after"),
    ],
)
def test_user_errors_are_one_line_messages(run, photos_copy, args, message):
    run("index", str(photos_copy / "jpg" / "gps"))
    code, out, err = run(*args)
    assert code == 1
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_library_that_is_not_there_is_not_made_and_bad_date(run, tmp_path, capsys):
    """A mistyped --library: every command but `index` says there is no library there, and
    leaves nothing behind. An indexed library without photos says so."""
    for command in (("search", "anything"), ("status", "--json")):
        code, out, err = run(*command)
        assert code == 1 and "no library at" in err and "viewfinder index FOLDER --library" in err
    assert not (tmp_path / "library").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run("index", str(empty))[0] == 0
    code, out, _ = run("search", "anything")
    assert code == 0 and "no photos yet" in out
    code, out, _ = run("status", "--json")
    assert json.loads(out)["photos"] == 0
    with pytest.raises(SystemExit) as e:
        main(["search", "x", "--after", "yesterday"])
    assert e.value.code == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_offline_pretrained_model_says_how_to_use_a_local_checkpoint(run, photos_copy, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    code, _, err = run("index", str(photos_copy / "jpg" / "gps"), "--model", "ViT-B-32", "--pretrained", "laion2b_s34b_b79k")
    assert code == 1 and "Traceback" not in err
    assert "--pretrained" in err and "checkpoint" in err


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *args]


def test_kill_9_during_indexing_then_resume(tmp_path, sample_photos, tiny_config):
    """Killed at a random moment, the next run resumes and the library stays consistent."""
    photos = tmp_path / "photos"
    shutil.copytree(sample_photos / "jpg", photos)
    for i, src in enumerate(sorted((sample_photos / "jpg").glob("*.jpg"))[:20]):  # more work to kill
        shutil.copy(src, photos / f"copy{i}.jpg")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}

    def index_then_kill(library: Path) -> dict:
        """Start indexing into `library`, kill it once some vectors are written; its status after."""
        proc = subprocess.Popen(index_args(library), env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        db = library / "library.db"
        deadline = time.monotonic() + 120
        vectors = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists():
                try:
                    with sqlite3.connect(db, timeout=1) as conn:
                        vectors = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
                except sqlite3.Error:
                    vectors = 0
                if vectors >= 8:
                    break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        result = subprocess.run(_cli("status", "--json", "--library", str(library)), env=env, cwd=ROOT, capture_output=True, text=True)
        return json.loads(result.stdout)

    def index_args(library: Path) -> list[str]:
        return _cli(
            "index", str(photos), "--library", str(library), "--model", str(tiny_config), "--batch-size", "4", "--ocr", "off"
        )

    # The kill races the indexer, which may finish first on a fast, idle machine: then again, anew.
    for attempt in range(3):
        library = tmp_path / f"library{attempt}"
        killed = index_then_kill(library)
        if 0 < killed["photos"] < killed["total"] and killed["pending"] > 0:
            break
    assert 0 < killed["photos"] < killed["total"] and killed["pending"] > 0, "indexing finished before the kill"
    args = index_args(library)
    result = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    result = subprocess.run(_cli("status", "--json", "--library", str(library)), env=env, cwd=ROOT, capture_output=True, text=True)
    final = json.loads(result.stdout)
    assert final["pending"] == 0 and final["photos"] + final["failed"] == final["total"] == killed["total"]
    with sqlite3.connect(library / "library.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) - COUNT(DISTINCT path) FROM photos").fetchone()[0] == 0
        orphans = conn.execute(
            "SELECT COUNT(*) FROM vectors v WHERE NOT EXISTS (SELECT 1 FROM photos p WHERE p.hash = v.hash)"
        ).fetchone()[0]
        assert orphans == 0
        unindexed = conn.execute(
            "SELECT COUNT(*) FROM photos p WHERE p.error IS NULL AND p.hash IS NOT NULL AND NOT EXISTS"
            " (SELECT 1 FROM vectors v WHERE v.hash = p.hash)"
        ).fetchone()[0]
        assert unindexed == 0
    # the index file agrees with the database: every photo is findable by its own image (--all: the tiny
    # random model puts every photo near every other, so the calibrated cut is not what is tested here)
    target = photos / "copy3.jpg"
    result = subprocess.run(
        _cli("search", "--image", str(target), "--all", "-k", "2", "--json", "--library", str(library)),
        env=env, cwd=ROOT, capture_output=True, text=True,
    )
    assert str(target) in [h["path"] for h in json.loads(result.stdout)]


def test_watch_command_indexes_new_photos_until_interrupted(tmp_path, sample_photos, tiny_config):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(sample_photos / "jpg" / "Canon_40D.jpg", photos / "a.jpg")
    library = tmp_path / "library"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run(
        _cli("index", str(photos), "--library", str(library), "--model", str(tiny_config), "--ocr", "off"),
        env=env, cwd=ROOT, check=True, capture_output=True,
    )
    watch = subprocess.Popen(_cli("watch", "--library", str(library)), env=env, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert any("press Ctrl-C" in line for line in iter(watch.stderr.readline, ""))
        shutil.copy(sample_photos / "jpg" / "Nikon_D70.jpg", photos / "b.jpg")

        def photos_indexed() -> int:
            out = subprocess.run(_cli("status", "--json", "--library", str(library)), env=env, cwd=ROOT, capture_output=True, text=True)
            return json.loads(out.stdout)["photos"]

        deadline = time.monotonic() + 120
        while photos_indexed() < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert photos_indexed() == 2
    finally:
        watch.send_signal(signal.SIGINT)
        assert watch.wait(30) == 0


def test_search_lists_matches_and_counts_the_weaker_ones(run, tmp_path):
    from synthetic import write_scenes

    photos = write_scenes(tmp_path / "scenes", 12, colours=3)
    named = str(Path(photos[4][0]).with_name("Canon_40D.png"))
    os.rename(photos[4][0], named)
    assert run("index", str(tmp_path / "scenes"))[0] == 0
    code, out, _ = run("search", "Canon_40D", "--json")
    hits = json.loads(out)
    assert code == 0 and hits[0]["path"] == named
    assert hits[0]["match"] is True and hits[0]["matched"] == ["filename"] and hits[0]["relevance"] > 0.5
    assert all(h["match"] for h in hits)
    code, out, _ = run("search", "Canon_40D", "--json", "--all", "-k", "50")
    every = json.loads(out)
    assert len(every) == 12 and every[: len(hits)] == hits and not any(h["match"] for h in every[len(hits) :])
    assert len(json.loads(run("search", "Canon_40D", "--json", "--all", "-k", "3")[1])) == 3
    code, out, _ = run("search", "Canon_40D")
    assert out.splitlines()[0].endswith(f"{named}  [filename]")
    assert out.splitlines()[-1] == f"{12 - len(hits)} weaker results not shown (--all lists them)."
    code, out, _ = run("search", "scenes", "-k", "5")  # the folder's name: all 12 match
    assert len(out.splitlines()) == 6 and out.splitlines()[-1] == "7 more matches not shown (-k 12 lists them)."
    code, out, _ = run("search", "Canon_40D", "--like", named, "--unlike", str(tmp_path / "nope.png"))
    assert code != 0 and "cannot be marked" in out + _


def test_search_help_documents_the_output(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for word in ("--all", "--like", "--unlike", "--sort", "relevance", "weaker", "matched", "filename"):
        assert word in text


def test_a_search_through_the_graph_says_its_counts_are_lower_bounds(run, tmp_path, monkeypatch):
    """Above the exact threshold (lowered here) only the graph's nearest are weighed: "at least"."""
    from synthetic import write_scenes

    import engine.exact
    import engine.search
    import engine.vector_index

    monkeypatch.setattr(engine.exact, "EXACT_LIMIT", 4)
    monkeypatch.setattr(engine.vector_index, "EXACT_LIMIT", 0)  # the library's index is a graph
    monkeypatch.setattr(engine.search, "GRAPH_CANDIDATES", 6)
    write_scenes(tmp_path / "scenes", 12, colours=3)
    assert run("index", str(tmp_path / "scenes"))[0] == 0
    code, out, _ = run("search", "a red circle", "-k", "1", "--all")
    last = out.splitlines()[-1]
    assert code == 0 and last.startswith("At least ") and "matches, at least " in last
    matches, weaker = (int(w) for w in last.replace(",", "").split() if w.isdigit())
    assert matches + weaker == 6  # the candidates, of 12 photos
