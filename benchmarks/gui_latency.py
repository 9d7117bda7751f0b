"""Desktop app latency: time to first window, and typed query -> results on screen.

1. Startup: a fresh process runs the app (offscreen) and prints the seconds from launch to the
   window being shown, via `python -m app.gui.main` and via the `viewfinder gui` CLI entry.
2. Query latency: ViT-B-32 at random init over a library of 10k synthetic vectors (rows inserted
   straight into the store); a query is typed into the search field and the clock runs from the
   last keystroke (or Enter) until the results model holds the answer.

Run: QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/gui_latency.py [--photos 10000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchmarks.scratch import scratch_folder  # noqa: E402

QUERIES = ["a dog on the beach", "red car at night", "birthday cake -candles", "mountains in snow", "kids"]


def time_to_window(command: list[str], library: str, timeout: float = 120.0) -> float:
    """Seconds from spawning `command` until it prints `shown` (the window is visible)."""
    env = dict(os.environ, VIEWFINDER_EXIT_AFTER_SHOW="1", XDG_CONFIG_HOME=library + "-config")
    env["VIEWFINDER_T0"] = repr(time.time())
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        deadline = time.time() + timeout
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("shown "):
                return float(line.split()[1])
            if time.time() > deadline:
                break
        return float("nan")
    finally:
        proc.kill()  # the window would now wait for the library to finish opening; not measured
        proc.wait()


def _answered(window) -> int:
    """Rows the search returned: its matches and the weaker results behind their button."""
    return window.views.results.matches + window.views.results.weaker


def make_synthetic_library(path: Path, photos: int):
    from engine.config import ModelSpec
    from engine.library import Library
    from engine.store import PhotoUpdate

    library = Library(path, model=ModelSpec("ViT-B-32", None))
    folder = str(path / "not-mounted")  # absent folder: scans keep its photos (an unplugged drive)
    library.store.photos.add_folder(folder)
    rng = np.random.default_rng(0)
    now = time.time()
    rows = [(f"{folder}/IMG_{i:05d}.jpg", 1000 + i, now - i * 3600.0) for i in range(photos)]
    library.store.photos.apply_scan(folder, rows, [], [])
    ids = {p: pid for p, (pid, _s, _m) in library.store.photos.stats(folder).items()}
    vectors = rng.standard_normal((photos, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for start in range(0, photos, 1000):
        chunk = rows[start : start + 1000]
        updates = [
            PhotoUpdate(ids[p], hash=f"h{start + j}", width=4000, height=3000)
            for j, (p, _s, _m) in enumerate(chunk)
        ]
        library.store.save_results(
            library.model.key, updates, {f"h{start + j}": vectors[start + j] for j in range(len(chunk))}
        )
    return library


def query_latency(photos: int) -> dict[str, list[float]]:
    from PySide6.QtCore import QSettings, Qt
    from PySide6.QtTest import QTest

    from app.gui.main import create_app
    from app.gui.main_window import MainWindow
    from engine.thumbnails import ThumbnailCache

    app = create_app()
    tmp = scratch_folder("vf-gui-bench-")
    library = make_synthetic_library(tmp / "lib", photos)
    window = MainWindow(
        library,
        settings=QSettings(str(tmp / "s.ini"), QSettings.Format.IniFormat),
        thumbnail_cache=ThumbnailCache(tmp / "thumbs"),
        watch=False,
        auto_index=False,
    )
    window.show()

    def wait(predicate, timeout=300.0) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            app.processEvents()
            time.sleep(0.001)
            if time.monotonic() > end:
                raise TimeoutError

    t = time.monotonic()
    wait(lambda: window.state.model_ready)
    print(f"model load (ViT-B-32 random init, background): {time.monotonic() - t:.1f} s")
    wait(lambda: window.views.results.rowCount() > 0)  # the browse view of all photos
    window.search.search_text("warm up")
    wait(lambda: not window.search.busy)

    out: dict[str, list[float]] = {"typed (incl. 250 ms debounce)": [], "enter": []}
    for round_ in range(3):
        for q in QUERIES:
            query = f"{q} {round_}"
            field = window.views.search_bar.field
            field.clear()
            updated: list[float] = []
            conn = window.search.results_updated.connect(lambda u=updated: u.append(time.monotonic()))
            QTest.keyClicks(field, query)
            start = time.monotonic()
            wait(lambda u=updated: bool(u) and not window.search.busy and _answered(window))
            out["typed (incl. 250 ms debounce)"].append(updated[-1] - start)
            updated.clear()
            QTest.keyClicks(field, "x")
            QTest.keyClick(field, Qt.Key.Key_Return)
            start = time.monotonic()
            wait(lambda u=updated: bool(u) and not window.search.busy)
            out["enter"].append(updated[-1] - start)
            window.search.results_updated.disconnect(conn)
    # Scrolling: paint the grid at 40 positions through the results (thumbnails load lazily).
    window.views.results.set_show_weaker(True)  # a random-init model's cut may leave few matches
    bar = window.views.grid.verticalScrollBar()
    t = time.monotonic()
    for step in range(40):
        bar.setValue(bar.maximum() * step // 39)
        window.views.grid.viewport().repaint()
    out["scroll repaint (per step)"] = [(time.monotonic() - t) / 40]
    out["results per query"] = [float(_answered(window))]
    window.close()
    library.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--skip-startup", action="store_true")
    args = parser.parse_args()
    print(f"cpu cores: {os.cpu_count()}  load average: {os.getloadavg()[0]:.1f}")
    if not args.skip_startup:
        folder = scratch_folder("vf-gui-start-") / "library"  # its settings go beside it, in the same folder
        folder.mkdir()
        lib = str(folder)
        py = sys.executable
        for label, cmd in (
            ("python -m app.gui.main", [py, "-m", "app.gui.main", lib]),
            (
                "viewfinder gui (app.cli)",
                [
                    py,
                    "-c",
                    "import sys; from app.cli import main; sys.exit(main(sys.argv[1:]))",
                    "gui",
                    "--library",
                    lib,
                ],
            ),
        ):
            runs = [time_to_window(cmd, lib) for _ in range(3)]
            print(
                f"time to window, {label}: median {statistics.median(runs):.2f} s  (runs: {', '.join(f'{r:.2f}' for r in runs)})"
            )
    figures = query_latency(args.photos)
    for name, values in figures.items():
        if name == "results per query":
            print(f"{name}: {values[0]:.0f}")
            continue
        values = sorted(values)
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        print(
            f"query latency over {args.photos:,} vectors, {name}: median {statistics.median(values) * 1000:.0f} ms, p90 {p90 * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
