"""Opening a store from the one setting users give: a DuckDB path or a PostgreSQL URL.

``open_store`` never migrates: the caller decides when the schema may change (``botmon serve``
and the CLI call ``migrate()``), so a read-only tool never alters a database by accident.
Backends are imported lazily so that a DuckDB user does not load psycopg and vice versa.
"""

from __future__ import annotations

from botmon.store.base import Store, StoreError

__all__ = ["Store", "StoreError", "is_locked_duckdb_error", "open_store"]

_PG_SCHEMES = ("postgresql://", "postgres://")
_DUCKDB_SCHEME = "duckdb://"


def open_store(target: str, *, pool_size: int = 10, duckdb_memory_mb: int | None = None) -> Store:
    """Open the store named by ``target``.

    - ``postgresql://user@host:port/db`` (or ``postgres://``) opens PostgreSQL; ``pool_size``
      bounds its connections (the server's worker threads share them);
    - ``duckdb:///abs/path.duckdb``, ``duckdb://rel/path.duckdb`` or a plain filesystem path
      opens (creating) a DuckDB file; ``:memory:`` a throwaway in-memory DuckDB, limited to
      ``duckdb_memory_mb`` of memory when given (DuckDB's default otherwise).

    Raises StoreError with a one-line reason when the target is unusable.
    """
    if not isinstance(target, str) or not target.strip():
        raise StoreError("no database given: use a file path or a postgresql:// URL")
    if "\x00" in target:
        raise StoreError("database target contains a NUL character")
    if target.startswith(_PG_SCHEMES):
        from botmon.store.pg_store import open_postgres

        return open_postgres(target, pool_size=pool_size)
    if target.startswith(_DUCKDB_SCHEME):
        path = target[len(_DUCKDB_SCHEME) :]
        if not path:
            raise StoreError("duckdb:// URL without a path; use duckdb:///path/to/file.duckdb")
    elif "://" in target:
        scheme = target.split("://", 1)[0]
        raise StoreError(
            f"unknown database scheme {scheme[:20]!r}: use a file path, duckdb:///path "
            "or postgresql://..."
        )
    else:
        path = target
    from botmon.store.duckdb_store import open_duckdb

    return open_duckdb(path, memory_mb=duckdb_memory_mb)


def is_locked_duckdb_error(exc: BaseException) -> bool:
    """True when ``exc`` (or its cause) is DuckDB refusing a file another process has locked.

    The CLI uses it to fall back to talking to the running server that holds the file.
    """
    try:
        from botmon.store.duckdb_store import is_locked_error
    except ImportError:  # pragma: no cover - duckdb is a hard dependency
        return False
    return is_locked_error(exc)
