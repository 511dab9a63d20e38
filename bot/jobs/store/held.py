"""Results kept for a member who could not be reached: a private result that outlived its interaction token
while the member's direct messages are closed. `/history` (an ephemeral answer) shows them, then forgets them.
Retention prunes them with their job; the table is in the store's schema."""

from __future__ import annotations

from dataclasses import dataclass

from .sqlite import SqliteJobStore


@dataclass(frozen=True, slots=True)
class HeldFile:
    filename: str
    data: bytes


async def hold(store: SqliteJobStore, job_id: str, user_id: int, files: list[HeldFile]) -> None:
    async with store.writing() as db:
        await db.executemany(
            "INSERT OR REPLACE INTO held_results (job_id, user_id, n, filename, data) VALUES (?, ?, ?, ?, ?)",
            [(job_id, user_id, n, f.filename, f.data) for n, f in enumerate(files)],
        )


async def held(store: SqliteJobStore, user_id: int) -> dict[str, list[HeldFile]]:
    """A member's held results: job id -> its files, oldest job first."""
    async with store.db.execute(
        "SELECT job_id, filename, data FROM held_results WHERE user_id = ? ORDER BY rowid", (user_id,)
    ) as cursor:
        rows = await cursor.fetchall()
    found: dict[str, list[HeldFile]] = {}
    for job_id, filename, data in rows:
        found.setdefault(str(job_id), []).append(HeldFile(str(filename), bytes(data)))
    return found


async def release(store: SqliteJobStore, job_id: str) -> None:
    async with store.writing() as db:
        await db.execute("DELETE FROM held_results WHERE job_id = ?", (job_id,))
