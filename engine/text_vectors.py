"""Text vectors of one model, kept on disk between runs.

Calibration scores every query against a bank of about seventy texts, the user's vocabulary and
past searches (engine/calibration.py). Encoding them again in every new process cost a cold
command-line search more than loading the model: they are read from a small file instead, and
only texts never seen before are encoded (then added to the file).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import npz

log = logging.getLogger(__name__)

# The most texts a file keeps (the newest): past searches would otherwise make it grow for ever.
KEPT = 4000


class KeptTexts:
    """`encode_texts` with a file of the texts already encoded. Thread-safe.

    path: the model's file (a fine-tuned version is another model, with its own file); a missing,
    damaged or unwritable file only means the texts are encoded again.
    """

    def __init__(self, path: Path, encode_texts: Callable[[list[str]], np.ndarray]):
        self.path = Path(path)
        self._encode = encode_texts
        self._lock = threading.Lock()
        self._vectors: dict[str, np.ndarray] | None = None

    def __call__(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if self._vectors is None:
                self._vectors = self._read()
            known = self._vectors
            missing = list(dict.fromkeys(t for t in texts if t not in known))
        if missing:
            encoded = np.asarray(self._encode(missing), np.float32)
            with self._lock:
                known.update(zip(missing, encoded, strict=True))
                self._write(dict(list(known.items())[-KEPT:]))
        if not texts:
            return np.zeros((0, 0), np.float32)
        return np.stack([known[t] for t in texts])

    def _read(self) -> dict[str, np.ndarray]:
        data = npz.read(self.path)
        if data is None:
            return {}
        try:
            return dict(zip(data["texts"].tolist(), data["vectors"].astype(np.float32), strict=True))
        except (KeyError, ValueError) as e:
            log.info("text vectors %s not usable, encoding again: %s", self.path, e)
            return {}

    def _write(self, vectors: dict[str, np.ndarray]) -> None:
        """Replace the file at once (another process may be reading it)."""
        texts, stacked = np.array(list(vectors), dtype=str), np.stack(list(vectors.values()))
        npz.write(self.path, {"texts": texts, "vectors": stacked})
