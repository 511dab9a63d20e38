"""Moving a bot from its SQLite file to PostgreSQL: every row of every table (jobs with their replies, attached
and held images, member and server settings, policies, the ComfyUI client id) copied into a PostgreSQL database
that holds no jobs yet, in one transaction. Images kept in files beside the SQLite file go into the rows."""

from __future__ import annotations

from typing import Any

from .batch import Statement
from .jobstore import JobStore, StoreError

TABLES = ("meta", "jobs", "job_images", "held_results", "member_settings", "guild_settings")
FILE_TABLES = ("job_images", "held_results")  # their `file` names a file beside the SQLite database


async def copy_database(source: JobStore, target: JobStore) -> dict[str, int]:
    """Rows copied, by table. StoreError, and nothing written, when the target already has jobs."""
    held = await target.job_count()
    if held:
        raise StoreError(f"the database {target.where} already holds {held} job(s): copy into an empty one")
    statements, counts = [], {}
    for table in TABLES:
        rows = [dict(row) for row in await source.database.fetch_all(f"SELECT * FROM {table}")]
        counts[table] = len(rows)
        if not rows:
            continue
        if table in FILE_TABLES:
            for row in rows:
                if row.get("file") and source.files is not None:
                    row["data"], row["file"] = await source.files.get(row["file"]), None
        if table == "meta":  # the new database's own meta rows (none but what this copy writes) give way
            statements.append(Statement("DELETE FROM meta"))
        columns = list(rows[0])
        marks = ", ".join("?" * len(columns))
        values: list[Any] = [tuple(row[c] for c in columns) for row in rows]
        statements.append(Statement(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values, many=True))
    await target.write(*statements)
    return counts
