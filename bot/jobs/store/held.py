"""Results kept for a member who could not be reached: a private result that outlived its interaction token
while the member's direct messages are closed. `/history` (an ephemeral answer) shows them, then forgets them.
Retention prunes them with their job; the table is in the store's schema."""

from __future__ import annotations

from dataclasses import dataclass

from .batch import Statement
from .jobstore import JobStore


@dataclass(frozen=True, slots=True)
class HeldFile:
    filename: str
    data: bytes


async def hold(store: JobStore, job_id: str, user_id: int, files: list[HeldFile]) -> None:
    kept = [await store.keep_bytes(f.data, "held", job_id, n, f.filename) for n, f in enumerate(files)]
    await store.write(
        Statement(
            "INSERT INTO held_results (job_id, user_id, n, filename, data, file) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (job_id, n) DO UPDATE SET user_id = excluded.user_id, filename = excluded.filename, "
            "data = excluded.data, file = excluded.file",
            [
                (job_id, user_id, n, f.filename, data, file)
                for (n, f), (file, data) in zip(enumerate(files), kept, strict=True)
            ],
            many=True,
        )
    )


async def held(store: JobStore, user_id: int) -> dict[str, list[HeldFile]]:
    """A member's held results: job id -> its files, oldest job first."""
    rows = await store.database.fetch_all(  # oldest job first: by the job's place in the order of asking
        "SELECT h.job_id, h.filename, h.data, h.file FROM held_results h LEFT JOIN jobs j ON j.id = h.job_id "
        "WHERE h.user_id = ? ORDER BY j.seq, h.n",
        (user_id,),
    )
    found: dict[str, list[HeldFile]] = {}
    for job_id, filename, data, file in rows:
        content = await store.files.get(file) if file and store.files else bytes(data)
        found.setdefault(str(job_id), []).append(HeldFile(str(filename), content))
    return found


async def release(store: JobStore, job_id: str) -> None:
    rows = await store.database.fetch_all(
        "SELECT file FROM held_results WHERE job_id = ? AND file IS NOT NULL", (job_id,)
    )
    await store.write(Statement("DELETE FROM held_results WHERE job_id = ?", (job_id,)))
    if store.files is not None:
        await store.files.drop([str(row[0]) for row in rows])
