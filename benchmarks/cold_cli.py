"""Cold command-line commands: wall time and peak memory of fresh `viewfinder` processes.

    python benchmarks/cold_cli.py [--photos 120] [--model ViT-B-32-256] [--rounds 3] [--rclip DIR]

Builds a library of synthetic photos with the model at random init (same cost as pretrained),
indexes it once (which exports the runtime graphs), then runs each command in a new process,
interleaved over the rounds after one uncounted round (which writes the bytecode caches, as any
installed program has them), and prints the median wall time and the peak resident memory. The row
"import torch, open_clip" is what every command paid before. Targets: status, tags, tag and
category list at most 0.5 s; search at most rclip's time and memory.

With --rclip DIR (rclip 3.3 installed there with `pip install --no-deps --target DIR rclip==3.3`),
rclip searches the same photos with the same architecture (ViT-B-32-256 at random init, exported for
it by benchmarks/rclip_offline.py) in the same rounds; its first, uncounted run indexes them.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _run(argv: list[str], env: dict, cwd: Path = ROOT) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv} failed: {child.stderr.read().decode() if child.stderr else ''}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=120)
    parser.add_argument("--model", default="ViT-B-32-256")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rclip", type=Path, help="a folder where rclip 3.3 is installed (see above)")
    args = parser.parse_args()
    # This process stays small: a child's peak memory counts the parent's at the fork, so the
    # photos and rclip's graphs are made by children of their own.
    from rclip_offline import environment

    from engine.config import default_cache_dir

    with tempfile.TemporaryDirectory() as tmp:
        # Bytecode caches are written, as an installed program has them (some shells turn them off).
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env = {**base, "PYTHONPATH": str(ROOT), "VIEWFINDER_CACHE": f"{tmp}/cache", "HF_HUB_OFFLINE": "1"}
        library = f"{tmp}/library"
        make = f"from pathlib import Path; from tests.synthetic import write_scenes; write_scenes(Path({str(Path(tmp) / 'photos')!r}), {args.photos}, colours=3)"
        subprocess.run([sys.executable, "-c", make], env=env, cwd=ROOT, check=True)
        cli = [sys.executable, "-m", "app.cli"]
        lib = ["--library", library]
        subprocess.run(
            [*cli, "index", f"{tmp}/photos", *lib, "--model", args.model, "--pretrained", "none"],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run([*cli, "category", "add", "reds", "--prompt", "a red square", *lib], env=env, check=True)
        photo = str(next((Path(tmp) / "photos").rglob("*.png")))
        commands: dict[str, tuple[list[str], dict, Path]] = {
            "status": ([*cli, "status", *lib], env, ROOT),
            "tags": ([*cli, "tags", *lib], env, ROOT),
            "tag": ([*cli, "tag", photo, "my garden", *lib], env, ROOT),
            "category list": ([*cli, "category", "list", *lib], env, ROOT),
            'search "a red circle" -k 5': ([*cli, "search", "a red circle", "-k", "5", *lib], env, ROOT),
            "import torch, open_clip": ([sys.executable, "-c", "import torch, open_clip"], env, ROOT),
        }
        if args.rclip:
            datadir = default_cache_dir() / "benchmarks" / "rclip"
            prepare = f"from rclip_offline import prepare; from pathlib import Path; prepare(Path({str(datadir)!r}))"
            subprocess.run(
                [sys.executable, "-c", prepare],
                env={**env, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'benchmarks'}"},
                check=True,
                capture_output=True,
            )
            rclip_env = environment(args.rclip.resolve(), datadir, base)
            own = Path(tmp) / "rclip"  # its own database, for these photos only, beside the shared models
            own.mkdir()
            for entry in datadir.iterdir():
                if entry.name != "db.sqlite3":
                    (own / entry.name).symlink_to(entry)
            rclip_env["RCLIP_DATADIR"] = str(own)
            argv = [sys.executable, "-m", "rclip", "-t", "5", "-f", "a red circle"]
            commands['rclip 3.3 "a red circle" -t 5'] = (argv, rclip_env, Path(tmp) / "photos")
        walls: dict[str, list[float]] = {name: [] for name in commands}
        peaks: dict[str, list[float]] = {name: [] for name in commands}
        for counted in range(args.rounds + 1):
            for name, (argv, child_env, cwd) in commands.items():
                wall, peak = _run(argv, child_env, cwd)
                if counted:  # the first round writes bytecode caches (and rclip indexes)
                    walls[name].append(wall)
                    peaks[name].append(peak)
    print(f"{args.photos} photos, {args.model}, {args.rounds} interleaved rounds, load {os.getloadavg()[0]:.1f}")
    print(f"(peak memory counts this process's at the fork: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    for name in commands:
        print(f"{name:30} {statistics.median(walls[name]):6.2f} s  {max(peaks[name]):7.0f} MB")


if __name__ == "__main__":
    main()
