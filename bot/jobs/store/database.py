"""The database under the store: SQLite (one file, WAL; the default) or PostgreSQL (`DATABASE__URL`), behind one
small interface, so every query of the store is written once. SQL is written with `?` placeholders; the
PostgreSQL side numbers them (`$1`, `$2`, ...), as asyncpg takes them. Rows read by column name or by index.

Writes are lists of statements committed together, in the order they were asked for; writes that come while a
commit is under way share the next one (`batch.py`), on a pooled connection for PostgreSQL.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
import asyncpg  # type: ignore[import-untyped]

from .batch import Run, Statement, WriteBatch

Row = Any  # aiosqlite.Row or asyncpg.Record: both read by name and by index
MIGRATION_LOCK = 0x636F6D6679_0002  # "comfy" and the migrations' number (the dispatcher lease is 1)


class Database(Protocol):
    dialect: str  # "sqlite" or "postgresql"

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def write(self, statements: Sequence[Statement]) -> None:
        """Run the statements in one transaction; return once it is committed. Raises the `refused` error the
        database was opened with when it refuses them (rolled back)."""
        ...

    async def script(self, sql: str) -> None:
        """DDL (a migration), committed."""
        ...

    def exclusive(self) -> AbstractAsyncContextManager[None]:
        """Held by one process at a time: migrations, which two processes starting together must not race."""
        ...

    async def close(self) -> None: ...


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection, refused: Callable[[Exception], Exception]) -> None:
        self.connection = connection
        self._refused = refused
        self._writes = WriteBatch(self._commit)

    async def _commit(self, runs: Sequence[Run]) -> None:
        try:
            for sql, rows in runs:
                if rows:
                    await self.connection.executemany(sql, rows)
            await self.connection.commit()
        except (sqlite3.Error, OSError) as exc:
            with suppress(sqlite3.Error):
                await self.connection.rollback()
            raise self._refused(exc) from None

    @classmethod
    async def open(cls, path: Path, busy_timeout: float, refused: Callable[[Exception], Exception]) -> SqliteDatabase:
        # SQLite's busy handler retries a locked database for `timeout` seconds, then raises "database is locked"
        # (https://www.sqlite.org/c3ref/busy_timeout.html): the bound on every wait.
        connection = await aiosqlite.connect(path, timeout=busy_timeout)
        try:
            await connection.execute("PRAGMA journal_mode=WAL")
            await connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error:
            await connection.close()
            raise
        return cls(connection, refused)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self.connection.execute(sql, params) as cursor:
            cursor.row_factory = aiosqlite.Row
            return list(await cursor.fetchall())

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        async with self.connection.execute(sql, params) as cursor:
            cursor.row_factory = aiosqlite.Row
            return await cursor.fetchone()

    async def write(self, statements: Sequence[Statement]) -> None:
        await self._writes.write(statements)

    async def script(self, sql: str) -> None:
        """DDL, committed (migrations)."""
        await self.connection.executescript(sql)
        await self.connection.commit()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        yield  # one process per file (instance.py): nobody to exclude

    async def close(self) -> None:
        await self._writes.drain()
        with suppress(sqlite3.Error, ValueError):
            await self.connection.close()


_PLACEHOLDER = re.compile(r"\?")


@functools.lru_cache(maxsize=256)  # the store's statements are a few dozen strings, run again and again
def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...` (the store's SQL has no `?` inside a literal)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


def storable(params: Sequence[Any]) -> tuple[Any, ...]:
    """Parameters PostgreSQL accepts: its text cannot hold NUL ("invalid byte sequence for encoding UTF8: 0x00"),
    so a NUL from outside (a ComfyUI error, a file name) becomes U+FFFD rather than making the write fail for good."""
    return tuple(p.replace("\x00", "\ufffd") if isinstance(p, str) and "\x00" in p else p for p in params)


class PostgresDatabase:
    """asyncpg's pool. Queries are prepared once per connection (asyncpg caches them)."""

    dialect = "postgresql"

    def __init__(self, pool: Any, refused: Callable[[Exception], Exception]) -> None:
        self.pool = pool
        self._refused = refused
        self._writes = WriteBatch(self._commit)  # in order, and together when they come together, as on SQLite

    @classmethod
    async def open(cls, url: str, refused: Callable[[Exception], Exception]) -> PostgresDatabase:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=8, command_timeout=30)
        return cls(pool, refused)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self.pool.fetch(numbered(sql), *storable(params)))

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        return await self.pool.fetchrow(numbered(sql), *storable(params))

    async def write(self, statements: Sequence[Statement]) -> None:
        await self._writes.write(statements)

    async def _commit(self, runs: Sequence[Run]) -> None:
        try:
            async with self.pool.acquire() as connection, connection.transaction():
                for sql, rows in runs:
                    if rows:
                        await connection.executemany(numbered(sql), [storable(row) for row in rows])
        except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as exc:
            raise self._refused(exc) from None

    async def script(self, sql: str) -> None:
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(sql)

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """A session advisory lock of its own (postgresql.org/docs/current/explicit-locking.html#ADVISORY-LOCKS),
        held on one pooled connection while the others do the work."""
        async with self.pool.acquire() as connection:
            await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                yield
            finally:
                await connection.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)

    async def close(self) -> None:
        await self._writes.drain()
        await self.pool.close()
