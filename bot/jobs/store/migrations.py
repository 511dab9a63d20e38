"""The store's schema as numbered migrations, applied at open to either database and recorded in
`schema_migrations`, so a database of any earlier version is brought up to date in place and never twice.

1. The tables. On SQLite, a database from before migrations were numbered already has them: the columns it
   lacks (added since the first release) are added, as the store did before.
2. Each job's measured cost: its GPU seconds and, apart, its model loads' (`jobs/cost.py`).
3. Each job's weight (its member's share of their server's GPU time, from the server's role weights), and an
   index for what members used since a time (`jobs/budgets.py`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .batch import Statement
from .database import Database, SqliteDatabase
from .schema import LEGACY_COLUMNS, SCHEMA


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    what: str
    sqlite: str
    postgresql: str
    after: Callable[[Database], Awaitable[None]] | None = None  # Python work beside the SQL (SQLite's old columns)


def postgresql_ddl(sqlite: str) -> str:
    """The SQLite DDL in PostgreSQL's types: snowflakes and counts are BIGINT, times DOUBLE PRECISION, bytes
    BYTEA; a seed (up to 2^64 - 1) NUMERIC."""
    return (
        sqlite.replace("seed INTEGER", "seed NUMERIC(20)")
        .replace(" INTEGER", " BIGINT")
        .replace(" REAL", " DOUBLE PRECISION")
        .replace(" BLOB", " BYTEA")
    )


async def _legacy_columns(database: Database) -> None:
    if not isinstance(database, SqliteDatabase):
        return
    for table in sorted({table for table, _, _ in LEGACY_COLUMNS}):
        columns = {row[1] for row in await database.fetch_all(f"PRAGMA table_info({table})")}
        for owner, name, declaration in LEGACY_COLUMNS:
            if owner == table and name not in columns:
                await database.script(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")


COSTS = "ALTER TABLE jobs ADD COLUMN gpu_seconds REAL;\nALTER TABLE jobs ADD COLUMN load_seconds REAL;"
WEIGHTS = (
    "ALTER TABLE jobs ADD COLUMN weight REAL;\n"
    "CREATE INDEX IF NOT EXISTS jobs_started ON jobs (started) WHERE gpu_seconds IS NOT NULL;"
)
MIGRATIONS = (
    Migration(1, "the tables", SCHEMA, postgresql_ddl(SCHEMA), after=_legacy_columns),
    Migration(2, "each job's measured cost", COSTS, postgresql_ddl(COSTS)),
    Migration(3, "each job's weight, and its start for budgets", WEIGHTS, postgresql_ddl(WEIGHTS)),
)


async def migrate(database: Database) -> list[int]:
    """Apply the migrations the database has not had, in order; the versions applied now. One process at a time
    (two starting together on one PostgreSQL wait for each other)."""
    async with database.exclusive():
        return await _migrate(database)


async def _migrate(database: Database) -> list[int]:
    await database.script(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied DOUBLE PRECISION NOT NULL)"
    )
    done = {int(row[0]) for row in await database.fetch_all("SELECT version FROM schema_migrations")}
    applied = []
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        await database.script(migration.sqlite if database.dialect == "sqlite" else migration.postgresql)
        if migration.after is not None:
            await migration.after(database)
        await database.write(
            [
                Statement(
                    "INSERT INTO schema_migrations (version, applied) VALUES (?, ?)", (migration.version, time.time())
                )
            ]
        )
        applied.append(migration.version)
    return applied
