"""Typed errors of the engine. Each carries the facts a caller needs to explain it to a person."""

from __future__ import annotations


class ViewfinderError(Exception):
    """Base class: an error a user can act on. Its message is one plain sentence."""


class PhotoError(ViewfinderError):
    """A single photo could not be read. Recorded per file; never aborts a run."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ModelUnavailable(ViewfinderError):
    """The model's weights could not be found or downloaded."""


class LibraryError(ViewfinderError):
    """The library directory or its database cannot be used as asked."""


class QueryError(ViewfinderError):
    """A search request that cannot be answered as given (no query, bad image, bad date)."""


class ClusterError(ViewfinderError):
    """A Ray cluster cannot be used as asked: Ray missing, cluster unreachable, resources lacking,
    or files the workers cannot see."""


class ReadOnlyLibrary(LibraryError):
    """A write was asked of a library that is open read-only (a read-only folder, a full disk)."""

    def __init__(self, folder: object, reason: str = ""):
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"The library at {folder} is read-only{why}: search and browsing work, but changes cannot be saved."
        )
        self.folder = str(folder)
        self.reason = reason
