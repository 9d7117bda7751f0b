"""Calibration's text vectors kept on disk: encoded once, read back by a later process, and a bad or
unwritable file never costs more than encoding again."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.text_vectors import KeptTexts


class Encoder:
    def __init__(self) -> None:
        self.encoded: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.encoded += texts
        return np.stack([np.full(4, float(len(t)), np.float32) + np.arange(4) for t in texts])


def test_texts_are_encoded_once_across_processes(tmp_path: Path):
    path = tmp_path / "cache" / "texts.npz"
    first = Encoder()
    out = KeptTexts(path, first)(["a dog", "a cat.", "a dog"])
    assert first.encoded == ["a dog", "a cat."]
    np.testing.assert_array_equal(out, first(["a dog", "a cat.", "a dog"]))
    later = Encoder()  # a new process: only the file is shared
    again = KeptTexts(path, later)(["a cat.", "a dog", "a bird"])
    assert later.encoded == ["a bird"]
    np.testing.assert_array_equal(again, later(["a cat.", "a dog", "a bird"]))
    assert KeptTexts(path, Encoder())([]).shape == (0, 0)


def test_a_damaged_or_unwritable_file_only_means_encoding_again(tmp_path: Path):
    path = tmp_path / "texts.npz"
    path.write_bytes(b"not a file of vectors")
    encoder = Encoder()
    assert KeptTexts(path, encoder)(["x"]).shape == (1, 4) and encoder.encoded == ["x"]
    later = Encoder()
    KeptTexts(path, later)(["x"])
    assert later.encoded == []  # the damaged file was replaced
    blocked = tmp_path / "a file" / "texts.npz"
    blocked.parent.write_text("a file where the folder would be")
    encoder = Encoder()
    assert KeptTexts(blocked, encoder)(["y", "y"]).shape == (2, 4) and encoder.encoded == ["y"]
