"""Results kept for a member who could not be reached: a private result that outlived its interaction token
while the member's direct messages are closed. `/history` (an ephemeral answer) shows them, then forgets them.
Retention prunes them with their job; the table is in the store's schema."""

from __future__ import annotations

from dataclasses import dataclass

from .batch import Statement
from .sqlite import SqliteJobStore


@dataclass(frozen=True, slots=True)
class HeldFile:
    filename: str
    data: bytes


async def hold(store: SqliteJobStore, job_id: str, user_id: int, files: list[HeldFile]) -> None:
    names = [
        await store.files.put(store.files.name_for("held", job_id, n, f.filename), f.data) for n, f in enumerate(files)
    ]
    await store.write(
        Statement(
            "INSERT OR REPLACE INTO held_results (job_id, user_id, n, filename, data, file) "
            "VALUES (?, ?, ?, ?, x'', ?)",
            [(job_id, user_id, n, f.filename, name) for (n, f), name in zip(enumerate(files), names, strict=True)],
            many=True,
        )
    )


async def held(store: SqliteJobStore, user_id: int) -> dict[str, list[HeldFile]]:
    """A member's held results: job id -> its files, oldest job first."""
    async with store.db.execute(
        "SELECT job_id, filename, data, file FROM held_results WHERE user_id = ? ORDER BY rowid", (user_id,)
    ) as cursor:
        rows = await cursor.fetchall()
    found: dict[str, list[HeldFile]] = {}
    for job_id, filename, data, file in rows:
        content = await store.files.get(file) if file else bytes(data)
        found.setdefault(str(job_id), []).append(HeldFile(str(filename), content))
    return found


async def release(store: SqliteJobStore, job_id: str) -> None:
    async with store.db.execute("SELECT file FROM held_results WHERE job_id = ? AND file IS NOT NULL", (job_id,)) as c:
        files = [str(row[0]) for row in await c.fetchall()]
    await store.write(Statement("DELETE FROM held_results WHERE job_id = ?", (job_id,)))
    await store.files.drop(files)
