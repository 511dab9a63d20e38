"""Queries for reports and data duties, beside the store: today's jobs, a member's results, retention, export."""

from __future__ import annotations

import json

from .batch import Statement
from .jobstore import JobStore


async def since(store: JobStore, timestamp: float) -> list[tuple[str, float, float | None, float | None]]:
    """(state, created, started, finished) of every job accepted since `timestamp`."""
    rows = await store.database.fetch_all(
        "SELECT state, created, started, finished FROM jobs WHERE created >= ?", (timestamp,)
    )
    return [(str(r[0]), float(r[1]), r[2], r[3]) for r in rows]


async def recent_results(
    store: JobStore, user_id: int, limit: int = 10
) -> list[tuple[str, int | None, int, int | None, str]]:
    """A member's latest delivered results: (job id, guild, channel, message, prompt), newest first."""
    rows = await store.database.fetch_all(
        "SELECT id, guild_id, channel_id, message_id, params FROM jobs WHERE user_id = ? AND state = 'delivered' "
        "ORDER BY finished DESC LIMIT ?",
        (user_id, limit),
    )
    return [(str(r[0]), r[1], int(r[2]), r[3], str(json.loads(r[4]).get("prompt") or "")) for r in rows]


async def costs(store: JobStore, limit: int = 2000) -> list[tuple[str, str, float]]:
    """The latest measured jobs, oldest first: (template, server, GPU seconds), to seed the estimates."""
    rows = await store.database.fetch_all(
        "SELECT template, backend, gpu_seconds FROM jobs WHERE gpu_seconds IS NOT NULL AND backend IS NOT NULL "
        "ORDER BY finished DESC LIMIT ?",
        (limit,),
    )
    return [(str(r[0]), str(r[1]), float(r[2])) for r in reversed(rows)]


async def usage_since(store: JobStore, timestamp: float) -> dict[tuple[int, int], float]:
    """Each member's GPU seconds per server, of the jobs that started since `timestamp` (budgets)."""
    rows = await store.database.fetch_all(
        "SELECT guild_id, user_id, SUM(gpu_seconds) FROM jobs WHERE gpu_seconds IS NOT NULL AND started >= ? "
        "AND guild_id IS NOT NULL GROUP BY guild_id, user_id",
        (timestamp,),
    )
    return {(int(r[0]), int(r[1])): float(r[2]) for r in rows}


async def prune(store: JobStore, finished_before: float) -> int:
    """Forget jobs that ended before `finished_before` (and their images); unfinished jobs are kept."""
    rows = await store.database.fetch_all(
        "SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ?", (finished_before,)
    )
    ids = [str(row[0]) for row in rows]
    files: list[str] = []
    for table in ("job_images", "held_results"):  # one query each, not one per job
        found = await store.database.fetch_all(
            f"SELECT file FROM {table} WHERE file IS NOT NULL AND job_id IN "
            "(SELECT id FROM jobs WHERE finished IS NOT NULL AND finished < ?)",
            (finished_before,),
        )
        files += [str(row[0]) for row in found]
    rows = [(i,) for i in ids]
    await store.write(
        Statement("DELETE FROM job_images WHERE job_id = ?", rows, many=True),
        Statement("DELETE FROM held_results WHERE job_id = ?", rows, many=True),
        Statement("DELETE FROM jobs WHERE id = ?", rows, many=True),
    )
    if store.files is not None:  # after the rows: a file without a row is harmless, a row without its file not
        await store.files.drop(files)
    return len(ids)


async def export(store: JobStore, user_id: int) -> list[dict[str, object]]:
    """Everything kept about a member's jobs (for `python -m bot export`), oldest first; images by name.
    (A Row iterates over its values, so its column names come from `keys()`.)"""
    rows = await store.database.fetch_all(
        "SELECT id, guild_id, channel_id, message_id, template, params, state, created, started, finished, error, "
        "outputs, kind, parent_id, gpu_seconds, load_seconds FROM jobs WHERE user_id = ? ORDER BY seq",
        (user_id,),
    )
    return [
        {
            **{key: row[key] for key in row.keys() if key not in ("params", "outputs")},  # noqa: SIM118
            "params": json.loads(row["params"]),
            "outputs": json.loads(row["outputs"]) if row["outputs"] else [],
        }
        for row in rows
    ]
