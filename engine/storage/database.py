"""The storage core: connections, transactions, schema migrations and library settings.

SQLite is the library's source of truth. Each repository (photos, vectors, tags, categories, model
versions) owns its tables through a `Schema`: a name and its migration steps, applied one step at a
time and recorded per schema in the `meta` table, so repositories evolve independently.

Transactions nest: a `transaction()` opened while the same thread already holds one joins it, so a
user-visible change made of several repository calls commits once, or not at all.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LibraryError, ReadOnlyLibrary

log = logging.getLogger(__name__)

Step = Callable[[sqlite3.Connection], None]

# The largest number of values bound in one `IN (...)` list (SQLite's default limit is 999 or more).
IN_CHUNK = 500


@dataclass(frozen=True)
class Schema:
    """A repository's tables: migration steps, run in order, one transaction for all of them.

    legacy: the single schema version (meta `schema_version`, libraries made before per-repository
    schemas) from which this schema's first step was already applied; 0 when there is none.
    """

    name: str
    steps: tuple[Step, ...]
    legacy: int = 0
    needed_to_read: bool = True  # False: a read-only library without it still opens


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def marks(n: int) -> str:
    """Placeholders for an `IN (...)` list of n values."""
    return ",".join("?" * n)


class Database:
    """One SQLite file. Safe to use from several threads (one connection each).

    read_only: open without ever writing (a library on a read-only folder or a full disk); every
    write raises ReadOnlyLibrary.
    """

    def __init__(self, path: Path, schemas: Sequence[Schema], *, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self.read_only_reason = ""
        self._local = threading.local()
        self._write_lock = threading.RLock()
        self._connections: list[sqlite3.Connection] = []
        self.commits = 0  # transactions committed by this process (fault-injection tests count them)
        if read_only:
            self._check_schemas(schemas)
        else:
            self._migrate(schemas)

    # -- connections -------------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._connections.append(conn)
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            if self.read_only:
                # WAL needs a writable folder even to read; `immutable` reads the file as it is.
                uri = self.path.resolve().as_uri() + "?mode=ro&immutable=1"
                conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA query_only=ON")
            else:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as e:
            raise LibraryError(f"Cannot open the library database {self.path}: {e}") from e
        return conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    def select_in(self, sql: str, values: Iterable[Any], before: Sequence[Any] = ()) -> Iterator[tuple]:
        """Rows of `sql`, whose `{marks}` is an IN list, over all `values` in chunks.
        `before` are parameters that come before the list in the statement."""
        items = list(values)
        for chunk in chunks(items):
            yield from self.conn.execute(sql.format(marks=marks(len(chunk))), [*before, *chunk])

    # -- transactions ------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic write. Joins the thread's open transaction, if any. Writers are serialised
        in-process; readers never wait (WAL)."""
        if self.read_only:
            raise ReadOnlyLibrary(self.path.parent, self.read_only_reason)
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield self.conn
            finally:
                self._local.depth -= 1
            return
        with self._write_lock:
            conn = self.conn
            self._local.depth = 1
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:  # SQLite rolls back by itself on some errors
                        conn.execute("ROLLBACK")
                    raise
                self._commit(conn)
            except sqlite3.OperationalError as e:
                raise _explain(e, self.path) from e
            finally:
                self._local.depth = 0

    def _commit(self, conn: sqlite3.Connection) -> None:
        conn.execute("COMMIT")
        self.commits += 1

    def vacuum(self) -> None:
        if self.read_only:
            raise ReadOnlyLibrary(self.path.parent, self.read_only_reason)
        with self._write_lock:
            self.conn.execute("VACUUM")

    @property
    def in_transaction(self) -> bool:
        return bool(getattr(self._local, "depth", 0))

    def close(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections.clear()
        self._local = threading.local()

    # -- schema ------------------------------------------------------------------------------

    def _applied(self, conn: sqlite3.Connection, schema: Schema, legacy: int) -> int:
        stored = get_meta(conn, f"schema.{schema.name}")
        if stored is not None:
            return int(stored)
        return 1 if schema.legacy and legacy >= schema.legacy else 0

    def _migrate(self, schemas: Sequence[Schema]) -> None:
        try:
            with self.transaction() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
                legacy = int(get_meta(conn, "schema_version") or 0)
                for schema in schemas:
                    applied = self._applied(conn, schema, legacy)
                    self._refuse_newer(schema, applied)
                    for step in schema.steps[applied:]:
                        step(conn)
                    set_meta(conn, f"schema.{schema.name}", str(len(schema.steps)))
        except sqlite3.DatabaseError as e:
            raise LibraryError(f"The library database {self.path} is not usable: {e}") from e

    def _check_schemas(self, schemas: Sequence[Schema]) -> None:
        """A read-only library cannot migrate: it must already be at this version."""
        try:
            conn = self.conn
            legacy = int(get_meta(conn, "schema_version") or 0)
            for schema in schemas:
                applied = self._applied(conn, schema, legacy)
                self._refuse_newer(schema, applied)
                if applied < len(schema.steps) and schema.needed_to_read:
                    raise LibraryError(
                        f"The library at {self.path.parent} is read-only and was made by an older"
                        " Viewfinder; open it once where it can be written to update it."
                    )
        except sqlite3.DatabaseError as e:
            raise LibraryError(f"The library database {self.path} is not usable: {e}") from e

    def _refuse_newer(self, schema: Schema, applied: int) -> None:
        if applied > len(schema.steps):
            raise LibraryError(
                f"The library at {self.path.parent} was made by a newer Viewfinder"
                f" ({schema.name} schema {applied}); update Viewfinder to open it."
            )


def _explain(error: sqlite3.OperationalError, path: Path) -> Exception:
    text = str(error)
    if "full" in text:  # SQLITE_FULL: the transaction was rolled back, nothing is lost
        return LibraryError(
            f"The disk holding the library ({path.parent}) is full; free some space"
            " and run again: nothing indexed so far is lost."
        )
    if "readonly" in text or "read-only" in text:
        return ReadOnlyLibrary(path.parent, "its folder cannot be written to")
    return error


# -- settings (the meta table) ---------------------------------------------------------------


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return row[0] if row else None


def set_meta(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    if value is None:
        conn.execute("DELETE FROM meta WHERE key = ?", [key])
    else:
        conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])


class Settings:
    """Library settings: text values by key."""

    def __init__(self, db: Database):
        self._db = db

    def get(self, key: str) -> str | None:
        return get_meta(self._db.conn, key)

    def set(self, key: str, value: str | None) -> None:
        with self._db.transaction() as conn:
            set_meta(conn, key, value)
