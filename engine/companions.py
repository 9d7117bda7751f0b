"""A camera's RAW+JPEG pair: two files of one shot, shown as one photo.

Cameras set to RAW+JPEG write `IMG_0042.CR2` and `IMG_0042.JPG` side by side. They are one
photo, not a duplicate: the JPEG (the camera's own rendering, fast to show) represents the shot
and the RAW is listed with it. A pair is recognised from paths alone: same folder, same name
stem, one RAW and one JPEG or HEIC.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import replace

from .raw import is_raw_path
from .search import Hit
from .store import PhotoRow

# What a camera writes beside a RAW, in order of preference when several are there.
REPRESENTATIVE_SUFFIXES = (".jpg", ".jpeg", ".heic", ".heif")


def sibling_candidates(raw_path: str) -> list[str]:
    """The paths the JPEG of this RAW's shot could have (suffixes in lower and upper case)."""
    stem = os.path.splitext(raw_path)[0]
    return [stem + s for suffix in REPRESENTATIVE_SUFFIXES for s in (suffix, suffix.upper())]


def pair_raws(paths: Iterable[str], known: Callable[[list[str]], Iterable[str]]) -> dict[str, str]:
    """RAW path -> the path that represents its shot, for the RAWs among `paths` that have one.

    known(candidates) answers which of the candidate paths are photos of the library.
    """
    raws = [p for p in paths if is_raw_path(p)]
    if not raws:
        return {}
    candidates = {raw: sibling_candidates(raw) for raw in raws}
    present = set(known([c for cs in candidates.values() for c in cs]))
    pairs = {}
    for raw, options in candidates.items():
        found = next((c for c in options if c in present), None)
        if found is not None:
            pairs[raw] = found
    return pairs


def without_paired_raws(rows: list[PhotoRow]) -> list[PhotoRow]:
    """These photos less the RAW files whose shot's JPEG is among them (browsing shows a shot once)."""
    paths = {r.path for r in rows}
    return [r for r in rows if not (is_raw_path(r.path) and any(c in paths for c in sibling_candidates(r.path)))]


def merge_pairs(
    hits: list[Hit], known: Callable[[list[str]], Iterable[str]], photo_of: Callable[[str], PhotoRow | None]
) -> list[Hit]:
    """Search hits with each RAW+JPEG shot once, where its better-ranked file was: shown as the
    JPEG, with the RAW in `companions`. photo_of(path) reads the JPEG's row when only the RAW hit."""
    pairs = pair_raws([h.path for h in hits], known)
    if not pairs:
        return hits
    out: list[Hit] = []
    position: dict[str, int] = {}
    for hit in hits:
        shot = pairs.get(hit.path, hit.path)
        if shot in position:  # the shot is listed already: at most add this RAW as its companion
            if hit.path != shot:
                i = position[shot]
                out[i] = replace(out[i], companions=(*out[i].companions, hit.path))
            continue
        if shot != hit.path:  # a RAW ranked before its JPEG: the JPEG represents the shot
            photo = photo_of(shot)
            if photo is not None:
                hit = replace(hit, path=shot, photo=photo, companions=(hit.path,))
        position[shot] = len(out)
        out.append(hit)
    return out
