"""Cluster options that need no cluster: path mappings, addresses, a missing Ray."""

from __future__ import annotations

import sys

import pytest
from synthetic import write_scenes

from app.cli import main
from engine.cluster import ClusterConfig, parse_path_map, worker_path
from engine.errors import ClusterError


def test_worker_path_uses_the_longest_matching_prefix():
    mapping = [("/mnt/nas", "/data/nas"), ("/mnt/nas/raw", "/fast/raw"), ("/", "/")]
    assert worker_path("/mnt/nas/2024/a.jpg", mapping) == "/data/nas/2024/a.jpg"
    assert worker_path("/mnt/nas/raw/b.cr2", mapping) == "/fast/raw/b.cr2"
    assert worker_path("/mnt/nasty/c.jpg", mapping) == "/mnt/nasty/c.jpg"  # only whole folder names match
    assert worker_path("/home/me/d.jpg", [("/mnt/nas", "/data/nas")]) is None  # sent as bytes


def test_parse_path_map():
    assert parse_path_map("/mnt/nas=/data/nas") == ("/mnt/nas", "/data/nas")
    for bad in ["/mnt/nas", "=/data", "/mnt/nas=", "/mnt/nas=relative/path"]:
        with pytest.raises(ClusterError, match="LOCAL=WORKER|absolute"):
            parse_path_map(bad)


def test_without_ray_the_cli_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as if not installed
    code = main(["index", str(tmp_path), "--library", str(tmp_path / "lib"), "--cluster", "auto"])
    err = capsys.readouterr().err
    assert code == 1 and "pip install 'viewfinder[cluster]'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "address, message",
    [("127.0.0.1:1", "Cannot reach the Ray cluster at 127.0.0.1:1"), ("nonsense", "ray://HOST:PORT")],
)
def test_unreachable_or_malformed_address_is_one_clear_error(make_library, tmp_path, address, message):
    pytest.importorskip("ray")
    write_scenes(tmp_path / "photos", 2, 2)
    library = make_library()
    library.add_folders([tmp_path / "photos"])
    with pytest.raises(ClusterError, match=message):
        library.index(cluster=ClusterConfig(address))
    assert library.status().pending == 2  # nothing was marked failed


def test_cluster_options_need_cluster(tmp_path, capsys):
    code = main(["index", str(tmp_path), "--library", str(tmp_path / "lib"), "--path-map", "/a=/b"])
    assert code == 1 and "go with --cluster" in capsys.readouterr().err


def test_sent_photos_go_in_rounds_of_bounded_bytes_and_unreadable_ones_are_failures(tmp_path):
    from engine.cluster import ClusterIndexer

    sent, mapped = tmp_path / "here", tmp_path / "nas"
    sent.mkdir()
    mapped.mkdir()
    items = []
    for i in range(7):
        (sent / f"{i}.jpg").write_bytes(bytes([i]) * 100)
        items.append((i, str(sent / f"{i}.jpg")))
    items.append((7, str(sent / "gone.jpg")))  # vanished since the scan
    items.append((8, str(mapped / "a.jpg")))  # the workers read this one themselves
    config = ClusterConfig("auto", path_map=((str(mapped), "/data/nas"),), round_bytes=250)
    indexer = ClusterIndexer(None, None, None, "m", config, batch_size=3)  # type: ignore[arg-type]
    rounds = list(indexer._rounds(items))
    sizes = [sum(len(d or b"") for job in jobs for d in job.data) for jobs, _ in rounds]
    assert sizes == [300, 300, 100]  # each round closes once it holds 250 bytes or more
    jobs = [job for round_jobs, _ in rounds for job in round_jobs]
    assert [job.ids for job in jobs] == [[0, 1, 2], [3, 4, 5], [6, 8]]
    assert jobs[0].data[1] == bytes([1]) * 100 and jobs[0].reads == [None, None, None]
    assert jobs[2].reads == [None, "/data/nas/a.jpg"] and jobs[2].data[1] is None
    failed = [u for _, failures in rounds for u in failures]
    assert [(u.photo_id, u.error) for u in failed] == [(7, "file vanished before it could be read")]
