"""Former home of the library's SQL, kept so `from engine.store import ...` still works: the storage
layer is the `engine.storage` package."""

from .storage import PhotoRow, PhotoUpdate, Store

__all__ = ["PhotoRow", "PhotoUpdate", "Store"]
