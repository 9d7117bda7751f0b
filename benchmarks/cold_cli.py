"""Cold command-line commands: wall time and peak memory of fresh `viewfinder` processes.

    python benchmarks/cold_cli.py [--photos 120] [--model ViT-B-32] [--rounds 3]

Builds a library of synthetic photos with the model at random init (same cost as pretrained),
indexes it once (which exports the runtime graphs), then runs each command in a new process,
interleaved over the rounds, and prints the median wall time and the peak resident memory. The last
row is a process that only imports torch and open_clip: what every command paid before.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _run(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed: {child.stderr.read().decode() if child.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=120)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tests.synthetic import write_scenes

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "VIEWFINDER_CACHE": f"{tmp}/cache", "HF_HUB_OFFLINE": "1"}
        library = f"{tmp}/library"
        write_scenes(Path(tmp) / "photos", args.photos, colours=3)
        cli = [sys.executable, "-m", "app.cli"]
        lib = ["--library", library]
        subprocess.run(
            [*cli, "index", f"{tmp}/photos", *lib, "--model", args.model, "--pretrained", "none"],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run([*cli, "category", "add", "reds", "--prompt", "a red square", *lib], env=env, check=True)
        commands = {
            "status": [*cli, "status", *lib],
            "tags": [*cli, "tags", *lib],
            "category list": [*cli, "category", "list", *lib],
            'search "a red circle" -k 5': [*cli, "search", "a red circle", "-k", "5", *lib],
            "import torch, open_clip": [sys.executable, "-c", "import torch, open_clip"],
        }
        walls: dict[str, list[float]] = {name: [] for name in commands}
        peaks: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, argv in commands.items():
                wall, peak = _run(argv, env)
                walls[name].append(wall)
                peaks[name].append(peak)
    print(f"{args.photos} photos, {args.model}, {args.rounds} interleaved rounds, load {os.getloadavg()[0]:.1f}")
    for name in commands:
        print(f"{name:30} {statistics.median(walls[name]):6.2f} s  {max(peaks[name]):7.0f} MB")


if __name__ == "__main__":
    main()
