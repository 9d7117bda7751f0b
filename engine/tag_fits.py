"""The tag stage's fitted scorers, kept on disk in the library folder, so that a new process (a
command-line search, the app after a restart) answers its first query naming a tag without fitting
again (about a second at ViT-B-32 sizes).

A fit is a function of what its key names: the search model (whose stored vectors and patch grids
it reads), the stage's settings, the tagged photos, their boxes and the library sample it was
fitted against. A file named by the key's digest is therefore the right fit or absent. Files are
written whole (a temporary file, then renamed) and read without pickle; the newest KEPT_FILES are
kept. A file that cannot be read is fitted again, and one that cannot be written is not kept:
nothing here fails a search.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import npz
from .tag_scoring import Probe, TagScorer
from .tag_windows import WindowScorer

log = logging.getLogger(__name__)

KEPT_FILES = 16


@dataclass
class Windows:
    """A tag's fitted window cache over the patch grids stored for `model`, its share of the tag's
    log-odds, how many candidates it scores, and the log-odds of the photos it has scored so far
    (content hash -> log-odds)."""

    scorer: WindowScorer
    model: str
    weight: float
    candidates: int
    odds: dict[str, float]


@dataclass(frozen=True)
class Fitted:
    """The scorers of the tags a query names: of the global vectors (None: no other photo to fit
    it against) and the window cache (None: too few tagged photos with a grid)."""

    scorer: TagScorer | None
    windows: Windows | None


def file_name(model: str, key: tuple) -> str:
    """The file of the fit of `key` (TagStage's: settings, tagged photos, boxes, sample) for `model`."""
    return hashlib.sha1(repr((model, key)).encode(), usedforsecurity=False).hexdigest() + ".npz"


def save(folder: Path, name: str, fitted: Fitted) -> None:
    """Keep `fitted` as `folder / name`, and only the newest KEPT_FILES fits."""
    if npz.write(folder / name, _arrays(fitted)):
        try:
            for old in sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime)[:-KEPT_FILES]:
                old.unlink(missing_ok=True)
        except OSError as e:
            log.info("old tag fits not removed from %s: %s", folder, e)


def load(folder: Path, name: str) -> Fitted | None:
    """The fit kept as `folder / name`; None when there is none or it cannot be read."""
    data = npz.read(folder / name)
    if data is None:
        return None
    try:
        return _fitted(data)
    except (KeyError, ValueError) as e:  # written by another version of this module
        log.info("tag fit %s not read: %s", name, e)
        return None


def _arrays(fitted: Fitted) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if fitted.scorer is not None:
        s = fitted.scorer
        out["probe_weights"], out["cache_keys"] = s.probe.weights, s.keys
        out["scorer"] = np.array(
            [s.probe.bias, s.probe.slope, s.cache_weight, s.sharpness, s.middle, s.slope]
        )
    if fitted.windows is not None:
        w, ws = fitted.windows, fitted.windows.scorer
        out["window_keys"], out["window_sizes"] = ws.keys, np.array(ws.sizes, np.float64).reshape(-1, 2)
        out["window"] = np.array([ws.sharpness, ws.step, ws.middle, ws.slope, ws.auc, w.weight, w.candidates])
        out["window_model"] = np.array(w.model)
        if ws.shape is not None:
            out["shape_weights"] = ws.shape.weights
            out["shape"] = np.array([ws.shape.bias, ws.shape.slope, ws.shape_share])
        odds = list(w.odds.items())  # one copy: another query may be adding to it
        out["odds_hashes"] = np.array([h for h, _ in odds], dtype=str)
        out["odds"] = np.array([v for _, v in odds], np.float64)
    return out


def _fitted(data: dict[str, np.ndarray]) -> Fitted:
    scorer = None
    if "scorer" in data:
        bias, slope, cache_weight, sharpness, middle, cache_slope = data["scorer"].tolist()
        probe = Probe(data["probe_weights"], bias, slope)
        scorer = TagScorer(probe, data["cache_keys"], cache_weight, sharpness, middle, cache_slope)
    windows = None
    if "window" in data:
        sharpness, step, middle, slope, auc, weight, candidates = data["window"].tolist()
        sizes = [(float(h), float(w)) for h, w in data["window_sizes"].tolist()]
        odds = dict(zip(data["odds_hashes"].tolist(), data["odds"].tolist(), strict=True))
        shape, shape_share = None, 0.0
        if "shape" in data:
            shape_bias, shape_slope, shape_share = data["shape"].tolist()
            shape = Probe(data["shape_weights"], shape_bias, shape_slope)
        windows_scorer = WindowScorer(
            data["window_keys"], sizes, sharpness, step, middle, slope, auc, shape, shape_share
        )
        windows = Windows(windows_scorer, str(data["window_model"]), weight, int(candidates), odds)
    return Fitted(scorer, windows)
