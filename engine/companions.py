"""A camera's RAW+JPEG pair: two files of one shot, shown as one photo.

Cameras set to RAW+JPEG write `IMG_0042.CR2` and `IMG_0042.JPG` side by side. They are one
photo, not a duplicate: the JPEG (the camera's own rendering, fast to show) represents the shot
and the RAW is listed with it. A pair is recognised from paths alone: same folder, same name
stem, one RAW and one JPEG or HEIC.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from .raw import is_raw_path

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
