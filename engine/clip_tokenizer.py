"""CLIP's byte-pair tokenizer without torch, for text queries through the runtime.

The same algorithm and vocabulary as open_clip's SimpleTokenizer (OpenAI CLIP's, MIT licence),
which returns torch tensors and cannot be imported without torch. Its vocabulary file ships inside
the open_clip package; we read it from there without importing the package. The ids are checked
against open_clip's in tests/engine/test_clip_tokenizer.py.
"""

from __future__ import annotations

import gzip
import html
import importlib.util
from functools import lru_cache
from pathlib import Path

import ftfy
import numpy as np
import regex

_MERGES = 49152 - 256 - 2  # merges used by CLIP's vocabulary
_SPECIAL = ("<start_of_text>", "<end_of_text>")


def _vocabulary_file() -> Path:
    spec = importlib.util.find_spec("open_clip")  # locates the package without running it
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the open_clip package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "bpe_simple_vocab_16e6.txt.gz"


@lru_cache
def _bytes_to_unicode() -> dict[int, str]:
    """Reversible byte -> printable character map the BPE works on."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def _clean(text: str) -> str:
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).lower()


class ClipTokenizer:
    """Texts -> (N, context_length) int64 token ids: start, BPE tokens, end, zero padding."""

    def __init__(self, context_length: int = 77):
        self.context_length = context_length
        self._byte_encoder = _bytes_to_unicode()
        with gzip.open(_vocabulary_file()) as f:
            lines = f.read().decode("utf-8").split("\n")[1 : _MERGES + 1]
        merges = [tuple(line.split()) for line in lines]
        vocab = list(self._byte_encoder.values())
        vocab += [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += list(_SPECIAL)
        self._ids = {token: i for i, token in enumerate(vocab)}
        self._ranks = {pair: i for i, pair in enumerate(merges)}
        self._cache: dict[str, str] = {t: t for t in _SPECIAL}
        self.sot_id, self.eot_id = self._ids[_SPECIAL[0]], self._ids[_SPECIAL[1]]
        special = "|".join(_SPECIAL)
        self._pattern = regex.compile(
            special + r"""|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""", regex.IGNORECASE
        )

    def _bpe(self, token: str) -> str:
        if token in self._cache:
            return self._cache[token]
        word = (*token[:-1], token[-1] + "</w>")
        while len(word) > 1:
            pairs = set(zip(word, word[1:], strict=False))
            best = min(pairs, key=lambda pair: self._ranks.get(pair, float("inf")))
            if best not in self._ranks:
                break
            merged: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    merged.append(word[i] + word[i + 1])
                    i += 2
                else:
                    merged.append(word[i])
                    i += 1
            word = tuple(merged)
        out = " ".join(word)
        self._cache[token] = out
        return out

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for token in self._pattern.findall(_clean(text)):
            chars = "".join(self._byte_encoder[b] for b in token.encode("utf-8"))
            ids += [self._ids[piece] for piece in self._bpe(chars).split(" ")]
        return ids

    def __call__(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.context_length), np.int64)
        for row, text in enumerate(texts):
            ids = [self.sot_id, *self.encode(text), self.eot_id][: self.context_length]
            ids[-1] = self.eot_id
            out[row, : len(ids)] = ids
        return out
