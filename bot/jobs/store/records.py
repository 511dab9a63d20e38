"""Queries for reports and data duties, beside the store: today's jobs, a member's results, retention, export."""

from __future__ import annotations

import json

import aiosqlite

from .batch import Statement
from .sqlite import SqliteJobStore


async def since(store: SqliteJobStore, timestamp: float) -> list[tuple[str, float, float | None, float | None]]:
    """(state, created, started, finished) of every job accepted since `timestamp`."""
    async with store.db.execute(
        "SELECT state, created, started, finished FROM jobs WHERE created >= ?", (timestamp,)
    ) as cursor:
        return [(str(r[0]), float(r[1]), r[2], r[3]) for r in await cursor.fetchall()]


async def recent_results(
    store: SqliteJobStore, user_id: int, limit: int = 10
) -> list[tuple[str, int | None, int, int | None, str]]:
    """A member's latest delivered results: (job id, guild, channel, message, prompt), newest first."""
    async with store.db.execute(
        "SELECT id, guild_id, channel_id, message_id, params FROM jobs WHERE user_id = ? AND state = 'delivered' "
        "ORDER BY finished DESC LIMIT ?",
        (user_id, limit),
    ) as cursor:
        rows = await cursor.fetchall()
    return [(str(r[0]), r[1], int(r[2]), r[3], str(json.loads(r[4]).get("prompt") or "")) for r in rows]


async def prune(store: SqliteJobStore, finished_before: float) -> int:
    """Forget jobs that ended before `finished_before` (and their images); unfinished jobs are kept."""
    async with store.db.execute(
        "SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ?", (finished_before,)
    ) as cursor:
        ids = [str(row[0]) for row in await cursor.fetchall()]
    files: list[str] = []
    for table in ("job_images", "held_results"):  # one query each, not one per job
        async with store.db.execute(
            f"SELECT file FROM {table} WHERE file IS NOT NULL AND job_id IN "
            "(SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ?)",
            (finished_before,),
        ) as c:
            files += [str(row[0]) for row in await c.fetchall()]
    rows = [(i,) for i in ids]
    await store.write(
        Statement("DELETE FROM job_images WHERE job_id = ?", rows, many=True),
        Statement("DELETE FROM held_results WHERE job_id = ?", rows, many=True),
        Statement("DELETE FROM jobs WHERE id = ?", rows, many=True),
    )
    await store.files.drop(files)  # after the rows: a file without a row is harmless, a row without its file not
    return len(ids)


async def export(store: SqliteJobStore, user_id: int) -> list[dict[str, object]]:
    """Everything kept about a member's jobs (for `python -m bot export`), oldest first; images by name.
    (A Row iterates over its values, so its column names come from `keys()`.)"""
    async with store.db.execute(
        "SELECT id, guild_id, channel_id, message_id, template, params, state, created, started, finished, "
        "error, outputs, kind, parent_id FROM jobs WHERE user_id = ? ORDER BY seq",  # member settings: below
        (user_id,),
    ) as cursor:
        cursor.row_factory = aiosqlite.Row
        rows = await cursor.fetchall()
    return [
        {
            **{key: row[key] for key in row.keys() if key not in ("params", "outputs")},  # noqa: SIM118
            "params": json.loads(row["params"]),
            "outputs": json.loads(row["outputs"]) if row["outputs"] else [],
        }
        for row in rows
    ]
