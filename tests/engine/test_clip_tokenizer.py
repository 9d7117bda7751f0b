"""The torch-free tokenizer gives open_clip's ids."""

from __future__ import annotations

import numpy as np
import open_clip

from engine.clip_tokenizer import ClipTokenizer

TEXTS = [
    "a photo of a dog",
    "",
    "  Two   CHILDREN playing football, at sunset!!  ",
    "labrador retriever's ball",
    "café crème & naïve façade — 東京タワー at night 🌃",
    "&amp; html &lt;escaped&gt; text",
    "numbers 1234 and 3.14159",
    "word " * 100,  # cut at the context length, ending with the end-of-text id
]


def test_ids_match_open_clip():
    ours = ClipTokenizer()(TEXTS)
    theirs = open_clip.get_tokenizer("ViT-B-32")(TEXTS).numpy()
    np.testing.assert_array_equal(ours, theirs)
    assert ours[-1, -1] == ClipTokenizer().eot_id


def test_other_context_length():
    ours = ClipTokenizer(16)(TEXTS)
    theirs = open_clip.tokenizer.SimpleTokenizer(context_length=16)(TEXTS).numpy()
    np.testing.assert_array_equal(ours, theirs)
