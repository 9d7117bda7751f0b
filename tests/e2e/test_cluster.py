"""`viewfinder index --cluster` on a local Ray cluster of two one-CPU nodes started here: the same
vectors and failures as local indexing, a killed driver resumes, a killed worker is replaced."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from synthetic import write_scenes

from app.cli import main

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
# Model actors take half a CPU: two of them and Ray Data's own tasks fit on the two one-CPU nodes.
WORKER_ARGS = ["--cluster-workers", "2", "--cluster-cpus", "0.5"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A head and a worker node, one CPU each; its address. Everything stays on the loopback."""
    previous = os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # Ray then uses 127.0.0.1, not the LAN address
    from ray.cluster_utils import Cluster

    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    nodes.add_node(num_cpus=1)
    raylets = {
        str(info.process.pid)
        for node in [nodes.head_node, *nodes.worker_nodes]
        for info in node.all_processes.get("raylet", [])
    }
    try:
        yield nodes.address
    finally:
        nodes.shutdown()
        _end_orphaned_workers(raylets)
        if previous is None:
            os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
        else:
            os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = previous


def _end_orphaned_workers(raylets: set[str]) -> None:
    """Ray worker processes of this test's nodes that outlived them (an actor restarting as its
    job ended can): Ray workers ("ray::" titles) started by one of these raylets, ended."""
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if not Path(f"/proc/{entry}/cmdline").read_bytes().startswith(b"ray::"):
                continue
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            started_by = {v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"RAY_RAYLET_PID=")}
            if started_by & raylets:
                os.kill(int(entry), signal.SIGKILL)
        except OSError:  # gone meanwhile
            continue


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Synthetic photos plus two files no decoder can read."""
    folder = tmp_path_factory.mktemp("photos")
    write_scenes(folder, 24, 3)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    (folder / "empty.png").write_bytes(b"")
    return folder


def index(library: Path, folder: Path, tiny_config: Path, capsys, *extra: str) -> tuple[int, str, str]:
    argv = ["index", str(folder), "--library", str(library), "--model", str(tiny_config), *extra]
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def contents(library: Path) -> dict[str, tuple]:
    """path -> (hash, metadata, error, vector) as the library stores them."""
    with sqlite3.connect(library / "library.db") as conn:
        rows = conn.execute(
            "SELECT p.path, p.hash, p.width, p.height, p.taken_at, p.error, v.vector"
            " FROM photos p LEFT JOIN vectors v ON v.hash = p.hash"
        ).fetchall()
    return {r[0]: (*r[1:6], None if r[6] is None else np.frombuffer(r[6], np.float32)) for r in rows}


def assert_same(cluster_run: dict[str, tuple], local_run: dict[str, tuple]) -> None:
    assert cluster_run.keys() == local_run.keys()
    for path, (*meta, vector) in cluster_run.items():
        *local_meta, local_vector = local_run[path]
        assert meta == local_meta, path
        if local_vector is None:
            assert vector is None, path
        else:  # same model, same runtime: equal up to float summation order
            np.testing.assert_allclose(vector, local_vector, atol=1e-5, err_msg=path)


def test_cluster_indexing_matches_local(cluster, photos, tmp_path, tiny_config, capsys):
    code, out, local_err = index(tmp_path / "local", photos, tiny_config, capsys)
    assert code == 0, local_err
    code, out, err = index(
        tmp_path / "remote",
        photos,
        tiny_config,
        capsys,
        "--cluster",
        cluster,
        "--path-map",
        "/=/",
        "--batch-size",
        "4",
        *WORKER_ARGS,
    )
    assert code == 0, err
    assert "26 processed this run" in out and "24 photos indexed, 2 unreadable, 0 pending" in out
    local, remote = contents(tmp_path / "local"), contents(tmp_path / "remote")
    assert_same(remote, local)
    assert remote[str(photos / "empty.png")][4] == "empty file"
    assert remote[str(photos / "broken.jpg")][4]  # a reason, as local indexing gives
    # the failures are reported as local indexing reports them
    assert err.splitlines()[-2:] == local_err.splitlines()[-2:]


def test_killed_driver_resumes(cluster, tmp_path, tiny_config, capsys):
    folder = tmp_path / "photos"
    write_scenes(folder, 120, 4, seed=3)
    library = tmp_path / "library"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)}
    # The driver sends the bytes (no path mapping), one photo per batch and one worker: slow
    # enough to be killed half-way.
    args = [
        sys.executable,
        "-m",
        "app.cli",
        "index",
        str(folder),
        "--library",
        str(library),
        "--model",
        str(tiny_config),
        "--cluster",
        cluster,
        "--batch-size",
        "1",
        "--cluster-workers",
        "1",
        "--cluster-cpus",
        "0.5",
    ]
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    written = 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None and written < 5:
        try:
            with sqlite3.connect(library / "library.db", timeout=1) as conn:
                written = conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        except sqlite3.Error:
            pass
        time.sleep(0.02)
    assert proc.poll() is None, f"indexing ended before it could be killed: {proc.communicate()[1][-2000:]!r}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(library / "library.db") as conn:
        written = conn.execute("SELECT COUNT(*) FROM photos WHERE hash IS NOT NULL").fetchone()[0]
    assert 0 < written < 120
    code, out, err = index(
        library, folder, tiny_config, capsys, "--cluster", cluster, "--path-map", "/=/", *WORKER_ARGS
    )
    assert code == 0, err
    assert (
        f"({120 - written} processed this run)" in out
        and "120 photos indexed, 0 unreadable, 0 pending" in out
    )
    stored = contents(library)  # (the vectors themselves are compared with local ones above)
    assert all(row[0] and row[5] is not None and row[5].shape == (64,) for row in stored.values())
    with sqlite3.connect(library / "library.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0] == len(
            {r[0] for r in stored.values()}
        )


def _map_workers() -> list[int]:
    """Process ids of the Ray Data model actors among this test's descendants."""
    children: dict[int, list[int]] = {}
    titles: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            titles[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, stack = [], [os.getpid()]
    while stack:
        for child in children.get(stack.pop(), []):
            stack.append(child)
            if "MapWorker" in titles.get(child, ""):
                found.append(child)
    return found


def test_killed_worker_is_replaced_and_the_run_finishes(cluster, photos, tmp_path, tiny_config, make_library):
    from engine.cluster import ClusterConfig

    library = make_library("remote")
    library.add_folders([photos])
    killed: list[int] = []

    def progress(p) -> None:
        if p.phase == "indexing" and not killed:
            workers = _map_workers()
            assert workers, "no model worker found to kill"
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])

    config = ClusterConfig(cluster, path_map=(("/", "/"),), workers=2, cpus_per_worker=0.5)
    library.batch_size = 2
    results: list = []
    # in a thread other than the main one, as the desktop app runs it
    runner = threading.Thread(target=lambda: results.append(library.index(progress, cluster=config)))
    runner.start()
    runner.join(timeout=400)
    assert not runner.is_alive() and results, "the run did not finish"
    assert killed and not results[0].cancelled
    status = library.status()
    assert (status.photos, status.failed, status.pending) == (24, 2, 0)
    local = make_library("local")
    local.add_folders([photos])
    local.index()
    assert_same(contents(tmp_path / "remote"), contents(tmp_path / "local"))


def test_workers_that_cannot_see_the_photos_leave_them_pending(
    cluster, photos, tmp_path, tiny_config, capsys, monkeypatch
):
    # "auto" finds the cluster of this machine; RAY_ADDRESS says which one, where other Ray
    # clusters (other test runs) may be running too.
    monkeypatch.setenv("RAY_ADDRESS", cluster)
    code, _, err = index(
        tmp_path / "lib",
        photos,
        tiny_config,
        capsys,
        "--cluster",
        "auto",
        "--path-map",
        f"{photos}=/nowhere",
        *WORKER_ARGS,
    )
    assert code == 1 and "cannot see" in err and "/nowhere/" in err and "Traceback" not in err
    code, out, _ = (main(["status", "--json", "--library", str(tmp_path / "lib")]), *capsys.readouterr())
    status = json.loads(out)
    assert status["pending"] == status["total"] == 26 and status["failed"] == 0


def test_missing_resources_are_one_clear_error(cluster, photos, tmp_path, tiny_config, capsys):
    code, _, err = index(
        tmp_path / "lib", photos, tiny_config, capsys, "--cluster", cluster, "--cluster-cpus", "64"
    )
    assert code == 1 and "has 64 CPUs" in err and "Traceback" not in err
