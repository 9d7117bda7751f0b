"""An on-disk thumbnail cache: small upright JPEGs keyed by path, size and modification time.

A photo edited on disk gets a new mtime, hence a new key and a fresh thumbnail; stale files are left
for `prune` to remove. Files are written atomically (temporary file + rename), so a crash or two
processes racing never leave a half-written thumbnail behind. No Qt here: the app's loader turns the
JPEG bytes into a QImage in its own worker threads.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

from .config import default_cache_dir
from .photos import thumbnail

log = logging.getLogger(__name__)

JPEG_QUALITY = 85


class ThumbnailCache:
    """Thumbnails under `root` (default: the platform cache dir / thumbnails).

    `get(path, size)` returns the file of an upright thumbnail whose longer side is at most `size`,
    making it on first use. Raises engine.errors.PhotoError when the photo cannot be decoded.
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = Path(root) if root is not None else default_cache_dir() / "thumbnails"

    def key(self, path: str, size: int, mtime: float) -> str:
        """A stable file name for (absolute path, size, mtime in nanoseconds)."""
        ident = f"{os.path.abspath(path)}\0{size}\0{int(mtime * 1e9)}"
        return hashlib.blake2b(ident.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()

    def file_for(self, path: str, size: int, mtime: float) -> Path:
        name = self.key(path, size, mtime)
        return self.root / name[:2] / f"{name}.jpg"

    def get(self, path: str, size: int, mtime: float | None = None) -> Path:
        """The cached thumbnail file of `path`, created if missing. `mtime` defaults to the file's."""
        if mtime is None:
            mtime = os.stat(path).st_mtime
        target = self.file_for(path, size, mtime)
        if target.is_file():
            return target
        image = thumbnail(path, size)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jpg", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                image.save(f, "JPEG", quality=JPEG_QUALITY, optimize=False)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def prune(self, max_bytes: int) -> int:
        """Delete the least recently used thumbnails until the cache is under `max_bytes`.

        Returns the number of files removed.
        """
        files = []
        for p in self.root.glob("*/*.jpg"):
            try:
                st = p.stat()
            except OSError:
                continue
            files.append((st.st_atime, st.st_size, p))
        total = sum(size for _, size, _ in files)
        removed = 0
        for _, size, p in sorted(files):
            if total <= max_bytes:
                break
            try:
                p.unlink()
            except OSError as e:
                log.debug("cannot remove thumbnail %s: %s", p, e)
                continue
            total -= size
            removed += 1
        return removed
