"""Where the matches end, on held-out scenes with the pretrained tiny model (tests/relevance.py).

Measured with `python benchmarks/search_relevance.py` (seeds 11, 12; mean F1 over 14 queries / the
oracle's): calibrated 0.54, 0.54; Otsu 0.36, 0.39; two-component mixture 0.36, 0.37; softmax against
generic prompts 0.53, 0.64; other queries as background 0.48, 0.49. The issue's target (0.8 of the
oracle) is not reached: the tiny model cannot tell shapes apart (a shape query's matches score like
its non-matches), and a colour it knows but the world lacks ("orange") still finds near colours.
"""

from __future__ import annotations

import numpy as np
import pytest
from relevance import measure


@pytest.fixture(scope="module", params=[11, 12])
def measured(request, pretrained_encoder):
    return measure(pretrained_encoder, request.param)


def test_calibrated_cut_beats_distribution_cuts(measured):
    methods = measured.methods
    ours = methods["calibrated"]
    print({name: round(o.ratio, 3) for name, o in methods.items()})
    assert ours.ratio >= methods["otsu"].ratio + 0.1
    assert ours.ratio >= methods["gmm"].ratio + 0.1
    # Queries the model knows are answered almost exactly, whatever share of the photos they match.
    known = [measured.queries.index(q) for q in ("blue", "red", "green", "striped")]
    assert min(ours.f1[i] for i in known) >= 0.85, [round(ours.f1[i], 2) for i in known]


def test_marks_raise_average_precision_where_the_base_is_mediocre(measured):
    gains = [after - before for _, before, after in measured.feedback]
    print([(q, round(b, 3), round(a, 3)) for q, b, a in measured.feedback])
    assert len(gains) >= 3
    assert np.mean(gains) > 0.0
    assert max(gains) >= 0.09
