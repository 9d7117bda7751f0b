"""The tag stage's fits kept on disk (engine/tag_fits.py): read back as written, and a folder that
cannot be written or a damaged file costs only a refit, never a search."""

from __future__ import annotations

import numpy as np

from engine import tag_fits
from engine.tag_scoring import TagScorer
from engine.tag_windows import WindowScorer


def _fitted(rng: np.random.Generator) -> tag_fits.Fitted:
    vectors = rng.standard_normal((40, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    grids = rng.standard_normal((12, 4, 4, 16)).astype(np.float32)
    windows = WindowScorer.fit(grids[:6, :3, :3], grids[:6], grids[6:], [(2.0, 2.5), (3.0, 3.5)])
    odds = {"a" * 40: 1.25, "b" * 40: -0.5}
    return tag_fits.Fitted(
        TagScorer.fit(vectors[:8], vectors[8:]), tag_fits.Windows(windows, "m", 0.7, 500, odds)
    )


def test_a_kept_fit_scores_as_the_one_written(tmp_path):
    rng = np.random.default_rng(0)
    fitted = _fitted(rng)
    name = tag_fits.file_name("model", ("settings", ("hash",)))
    tag_fits.save(tmp_path, name, fitted)
    kept = tag_fits.load(tmp_path, name)
    assert kept is not None and kept.scorer is not None and kept.windows is not None
    assert kept.windows.scorer.shape is not None
    vectors, grids = rng.standard_normal((5, 16)).astype(np.float32), rng.standard_normal((3, 4, 4, 16))
    assert np.array_equal(kept.scorer.log_odds(vectors), fitted.scorer.log_odds(vectors))
    assert np.array_equal(kept.windows.scorer.log_odds(grids), fitted.windows.scorer.log_odds(grids))
    assert kept.windows.odds == fitted.windows.odds and kept.windows.candidates == 500
    assert tag_fits.load(tmp_path, tag_fits.file_name("model", ("other",))) is None
    assert tag_fits.load(tmp_path, tag_fits.file_name("other model", ("settings", ("hash",)))) is None
    assert tag_fits.file_name("model", ("settings", ("hash",))) == name  # the same key, the same file


def test_only_the_newest_fits_are_kept_and_failures_cost_nothing(tmp_path):
    fitted = _fitted(np.random.default_rng(1))
    for i in range(tag_fits.KEPT_FILES + 3):
        tag_fits.save(tmp_path, f"{i}.npz", fitted)
    assert len(list(tmp_path.glob("*.npz"))) == tag_fits.KEPT_FILES
    assert not list(tmp_path.glob("*.tmp"))
    blocked = tmp_path / "a file"
    blocked.write_text("")
    tag_fits.save(blocked, "x.npz", fitted)  # cannot be a folder: logged, not raised
    (tmp_path / "damaged.npz").write_bytes(b"PK not a zip")
    assert tag_fits.load(tmp_path, "damaged.npz") is None
