"""The OCR pass on camera-size photos: speed, the share the gate skips, and what it misses.

    .venv/bin/python benchmarks/ocr_pass.py [--photos 24] [--text-share 0.33] [--gate-side 480]

Photos are 12 MP JPEGs (4000x3000) made from the sample camera photos; a share of them carry a
rendered sign (Pillow's bundled font) whose letters are 1% to 3.5% of the photo's longer side, at
small rotations. The same photos go through the pass twice, side by side in one run:
  auto  the detection gate on a GATE_SIDE copy, then the full reading where it finds text
  all   the full reading of every photo
Prints photos/s of each and their ratio, the share auto skipped, and per text size whether the gate
let the photo through and whether a word of its sign is then found.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.config import ModelSpec  # noqa: E402
from engine.encoder import Encoder  # noqa: E402
from engine.library import Library  # noqa: E402
from engine.ocr import GATE_SIDE, OcrConfig, TextReader  # noqa: E402
from engine.text_match import TextIndex  # noqa: E402
from tests.text_images import render_text  # noqa: E402

SOURCES = [
    ROOT / "tests/data/photos/jpg/mobile/jolla.jpg",
    ROOT / "tests/data/photos/jpg/gps/DSCN0021.jpg",
]
WORDS = ["BAKERY", "Harbour", "STATION", "Pharmacy", "Museum", "Lemonade", "GARAGE", "Cinema"]
LETTER_SHARES = (0.01, 0.015, 0.0225, 0.035)  # letter height / longer side


def make_photos(folder: Path, n: int, text_share: float) -> dict[str, tuple[str, float] | None]:
    """n camera-size JPEGs; returns name -> (word, letter share) for those with a sign, else None."""
    folder.mkdir(parents=True)
    bases = []
    for i, src in enumerate(SOURCES):
        with Image.open(src) as im:
            pixels = np.asarray(im.convert("RGB").resize((4000, 3000), Image.Resampling.LANCZOS), np.float32)
        pixels += np.random.default_rng(i).normal(0, 4, pixels.shape).astype(np.float32)
        bases.append(Image.fromarray(pixels.clip(0, 255).astype(np.uint8)))
    rng = np.random.default_rng(7)
    truth: dict[str, tuple[str, float] | None] = {}
    n_text = round(n * text_share)
    for i in range(n):
        name = f"IMG_{i:04d}.jpg"
        image = bases[i % len(bases)]
        truth[name] = None
        if i < n_text:
            word, share = WORDS[i % len(WORDS)], LETTER_SHARES[i % len(LETTER_SHARES)]
            position = (float(rng.uniform(0.3, 0.7)), float(rng.uniform(0.3, 0.7)))
            angle = float(rng.uniform(-10, 10))
            image = render_text(word, size=round(share * 4000), background=image, angle=angle, position=position)
            truth[name] = (word, share)
        image.save(folder / name, quality=92)
        with open(folder / name, "ab") as f:  # distinct content hashes, identical decode cost
            f.write(f"viewfinder-benchmark-{i}".encode())
    return truth


def run(folder: Path, lib_dir: Path, encoder: Encoder, reader: TextReader, mode: str) -> tuple[Library, object]:
    library = Library(lib_dir, encoder=encoder, text_reader=reader)
    library.add_folders([folder])
    library.index()
    start = time.perf_counter()
    result = library.read_text(OcrConfig(mode=mode, gate_side=reader.gate_side))  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    print(f"{mode:5s} {result.done} photos in {elapsed:6.1f} s = {result.done / elapsed:5.2f} photos/s,"
          f" skipped by the gate {result.skipped} ({100 * result.skipped / max(result.done, 1):.0f}%),"
          f" with text {result.found}")
    return library, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--text-share", type=float, default=1 / 3)
    parser.add_argument("--gate-side", type=int, default=GATE_SIDE)
    args = parser.parse_args()
    encoder = Encoder.load(ModelSpec(str(ROOT / "tests/assets/tiny-clip.json"), None), "cpu")
    reader = TextReader(gate_side=args.gate_side)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        truth = make_photos(folder, args.photos, args.text_share)
        auto, auto_result = run(folder, Path(tmp) / "auto", encoder, reader, "auto")
        every, all_result = run(folder, Path(tmp) / "all", encoder, reader, "all")
        print(f"auto/all speed ratio: {auto_result.rate / max(all_result.rate, 1e-9):.2f}x")  # type: ignore[attr-defined]
        for label, library in (("auto", auto), ("all", every)):
            index = TextIndex(library.store.texts.all())
            rows = []
            for name, sign in truth.items():
                found = library.photo_text(folder / name)
                if sign is None:
                    rows.append(("no sign", found is not None and found.status == "read" and bool(found.lines)))
                    continue
                word, share = sign
                matches = index.match(word)
                hit = found is not None and found.hash in matches
                rows.append((f"letters {share:.1%}", (found is not None and found.status == "read", hit)))
            print(f"[{label}]")
            for key in sorted({k for k, _ in rows}):
                values = [v for k, v in rows if k == key]
                if key == "no sign":
                    print(f"  no sign: {sum(values)} of {len(values)} gave some text (false text)")
                else:
                    passed = sum(v[0] for v in values)  # type: ignore[index]
                    hits = sum(v[1] for v in values)  # type: ignore[index]
                    print(f"  {key}: read {passed}/{len(values)}, found by its word {hits}/{len(values)}")
        auto.close()
        every.close()
    reader.close()


if __name__ == "__main__":
    main()
