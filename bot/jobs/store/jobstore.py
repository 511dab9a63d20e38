"""The store of jobs (on SQLite or PostgreSQL: `database.py`): every transition is written before anyone is told of it.

A job row keeps who asked and where (user, guild, channel, message, interaction token), the template, the
bound graph and values, the seed, the backend, the prompt id, timestamps, the error and the output files; the
images a member attached are kept beside it, so a restarted bot can still run it and a reroll can use them again.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.templates.params import ImageData
from bot.templates.template import BoundWorkflow

from ...settings.urls import shown as shown_url
from ..errors import JobError
from ..model import Job, JobRequest, JobState
from .batch import Statement
from .database import Database, PostgresDatabase, SqliteDatabase
from .files import FileShelf
from .migrations import migrate

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredReply:
    """Where a job's message is, as far as a restarted bot can know."""

    channel_id: int
    message_id: int | None
    token: str | None  # the interaction token, for edits while it lives


class StoreError(JobError):
    """The database cannot be used; the message says which file and why."""


class JobStore:
    """Jobs, their replies, settings and held results, in SQLite (`path`, the default) or in PostgreSQL (`url`).
    With SQLite, attached images live in files beside the database (`files.py`); with PostgreSQL, which several
    processes on several machines may share, in the rows."""

    def __init__(self, path: Path, *, busy_timeout: float = 10.0, url: str | None = None) -> None:
        self.path = path
        self.busy_timeout = busy_timeout  # how long a write waits for a lock another program holds
        self.url = url  # postgresql://...: the database; else SQLite at `path`
        self._database: Database | None = None
        self._seq = 0
        self._private: set[int] = set()  # members who asked for private results (read before Discord's 3 s)
        self.files: FileShelf | None = None if url else FileShelf(path.parent / "images")

    @property
    def where(self) -> str:
        """The database, as messages name it (never its password)."""
        return shown_url(self.url) if self.url else str(self.path)

    async def open(self) -> JobStore:
        """Open (and create or migrate) the database; StoreError, with the connection closed, when it cannot be
        (a file that is not a database, a disk that refuses it, a server that does not answer): SQLite's worker
        thread would keep the process alive."""
        try:
            return await self._open()
        except (sqlite3.Error, OSError, StoreError) as exc:
            await self.close()
            raise StoreError(f"the database {self.where} cannot be opened: {exc}") from None
        except Exception as exc:  # asyncpg's errors (authentication, a missing database) have no common base
            await self.close()
            raise StoreError(f"the database {self.where} cannot be opened: {type(exc).__name__}: {exc}") from None

    async def _open(self) -> JobStore:
        if self.url:
            self._database = await PostgresDatabase.open(self.url, self._refused)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._database = await SqliteDatabase.open(self.path, self.busy_timeout, self._refused)
        await migrate(self._database)
        await self.catch_up()
        return self

    async def catch_up(self) -> None:
        """Read again what the store keeps in memory (the jobs' order, who wants private results): at open, and
        when this process takes the dispatcher lease from another that wrote meanwhile."""
        row = await self.database.fetch_one("SELECT COALESCE(MAX(seq), 0) FROM jobs")
        self._seq = int(row[0]) if row else 0
        rows = await self.database.fetch_all(
            "SELECT user_id FROM member_settings WHERE key = 'private' AND value = 'on'"
        )
        self._private = {int(row[0]) for row in rows}

    async def close(self) -> None:
        if self._database is not None:
            await self._database.close()
            self._database = None

    @property
    def database(self) -> Database:
        assert self._database is not None, "the store is not open"
        return self._database

    async def write(self, *statements: Statement) -> None:
        """One write transaction, committed when this returns (on SQLite sharing its commit with the writes that
        came at the same time: `batch.py`); StoreError when the database refuses it (locked past the busy
        timeout, a full disk, an I/O error, a server gone), rolled back so the next write starts clean."""
        await self.database.write(statements)

    async def keep_bytes(self, data: bytes, *name: object) -> tuple[str | None, bytes]:
        """Where a row's bytes go, as (file, data): a file beside SQLite named from `name` (the row keeps b"");
        with PostgreSQL, shared by processes on several hosts, the row itself (no file)."""
        if self.files is None:
            return None, data
        return await self.files.put(self.files.name_for(*name), data), b""

    def _refused(self, exc: Exception) -> StoreError:
        name = self.path.name if not self.url else shown_url(self.url)
        return StoreError(f"the database {name} could not be written: {exc}")

    # ---- meta ------------------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        row = await self.database.fetch_one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        await self.write(
            Statement(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = ?",
                (key, value, value),
            )
        )

    # ---- jobs ------------------------------------------------------------------------------------------

    async def add(self, job: Job, reply: StoredReply) -> None:
        """A new job with everything needed to run it after a restart, in one transaction."""
        self._seq += 1
        job.seq = self._seq
        bound = job.request.bound
        params = {k: (v.filename if isinstance(v, ImageData) else v) for k, v in bound.values.items()}
        files = {name: await self.keep_bytes(image.data, job.id, name) for name, image in bound.images.items()}
        await self.write(
            Statement(
                "INSERT INTO jobs (id, seq, user_id, guild_id, channel_id, message_id, reply_token, template, graph, "
                "params, output_nodes, image_targets, seed, state, backend, prompt_id, attempts, created, kind, "
                "parent_id, note, spoiler, locale, private, weight) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.seq,
                    job.user_id,
                    job.request.guild_id,
                    job.request.channel_id,
                    reply.message_id,
                    reply.token,
                    bound.template,
                    json.dumps(bound.graph),
                    json.dumps(params, default=str),
                    json.dumps(bound.output_nodes),
                    json.dumps(bound.targets),
                    _seed(bound.values),
                    job.state.value,
                    job.backend,
                    job.prompt_id,
                    job.attempts,
                    job.created,
                    job.request.kind,
                    job.request.parent_id,
                    job.request.note,
                    int(job.request.spoiler),
                    job.request.locale,
                    int(job.request.private),
                    job.request.weight,
                ),
            ),
            Statement(
                "INSERT INTO job_images (job_id, param, filename, data, file) VALUES (?, ?, ?, ?, ?)",
                [
                    (job.id, name, image.filename, files[name][1], files[name][0])
                    for name, image in bound.images.items()
                ],
                many=True,
            ),
        )

    async def save(self, job: Job) -> None:
        """The job's state and what it has become; committed before the caller tells anyone."""
        await self.write(
            Statement(
                "UPDATE jobs SET state = ?, backend = ?, prompt_id = ?, attempts = ?, started = ?, finished = ?, "
                "error = ?, outputs = ?, gpu_seconds = ?, load_seconds = ? WHERE id = ?",
                (
                    job.state.value,
                    job.backend,
                    job.prompt_id,
                    job.attempts,
                    job.started,
                    job.finished,
                    job.error,
                    json.dumps(job.outputs) if job.outputs else None,
                    job.gpu_seconds,
                    job.load_seconds,
                    job.id,
                ),
            )
        )

    async def unfinished(self) -> list[tuple[Job, StoredReply]]:
        """Every job that has not ended, in the order it was queued."""
        rows = await self.database.fetch_all("SELECT * FROM jobs WHERE finished IS NULL ORDER BY seq")
        found = []
        for row in rows:
            try:
                found.append(
                    (await self._job(row), StoredReply(row["channel_id"], row["message_id"], row["reply_token"]))
                )
            except (ValueError, KeyError, TypeError) as exc:  # one damaged record must not stop the others
                log.error("job %s: its record is damaged (%s); it is set aside as failed", row["id"], exc)
                await self.write(
                    Statement(
                        "UPDATE jobs SET state = 'failed', finished = ?, error = ? WHERE id = ?",
                        (time.time(), f"its record was damaged and could not be resumed: {exc}", row["id"]),
                    )
                )
        return found

    async def get(self, job_id: str) -> Job | None:
        row = await self.database.fetch_one("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return await self._job(row) if row else None

    async def moved(self, job_id: str, channel_id: int, message_id: int) -> None:
        """The job's message is now another one (posted anew, or in direct messages): reactions find it there."""
        await self.write(
            Statement("UPDATE jobs SET channel_id = ?, message_id = ? WHERE id = ?", (channel_id, message_id, job_id))
        )

    async def by_message(self, message_id: int) -> Job | None:
        """The job whose message this is (any state): how reactions and buttons find old results."""
        row = await self.database.fetch_one(
            "SELECT * FROM jobs WHERE message_id = ? ORDER BY seq DESC LIMIT 1", (message_id,)
        )
        return await self._job(row) if row else None

    async def member_settings(self, user_id: int) -> dict[str, str]:
        rows = await self.database.fetch_all("SELECT key, value FROM member_settings WHERE user_id = ?", (user_id,))
        return {str(k): str(v) for k, v in rows}

    def wants_private(self, user_id: int) -> bool:
        """Whether the member asked for private results (from memory: it decides how the reply starts)."""
        return user_id in self._private

    async def set_member_setting(self, user_id: int, key: str, value: str | None) -> None:
        """Set a member's default; None clears it."""
        if key == "private":
            (self._private.add if value == "on" else self._private.discard)(user_id)
        if value is None:
            await self.write(Statement("DELETE FROM member_settings WHERE user_id = ? AND key = ?", (user_id, key)))
        else:
            await self.write(
                Statement(
                    "INSERT INTO member_settings (user_id, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT(user_id, key) DO UPDATE SET value = excluded.value",
                    (user_id, key, value),
                )
            )

    async def guild_setting(self, guild_id: int, key: str) -> str | None:
        row = await self.database.fetch_one(
            "SELECT value FROM guild_settings WHERE guild_id = ? AND key = ?", (guild_id, key)
        )
        return str(row[0]) if row else None

    async def every_guilds_setting(self, key: str) -> dict[int, str]:
        """One setting of every server that has it: guild id -> value."""
        rows = await self.database.fetch_all("SELECT guild_id, value FROM guild_settings WHERE key = ?", (key,))
        return {int(guild_id): str(value) for guild_id, value in rows}

    async def job_count(self) -> int:
        row = await self.database.fetch_one("SELECT COUNT(*) FROM jobs")
        return int(row[0]) if row else 0

    async def set_guild_setting(self, guild_id: int, key: str, value: str) -> None:
        await self.write(
            Statement(
                "INSERT INTO guild_settings (guild_id, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT(guild_id, key) DO UPDATE SET value = excluded.value",
                (guild_id, key, value),
            )
        )

    async def states(self, ids: Iterable[str]) -> dict[str, JobState]:
        wanted = list(ids)
        marks = ",".join("?" * len(wanted))
        if not wanted:
            return {}
        rows = await self.database.fetch_all(f"SELECT id, state FROM jobs WHERE id IN ({marks})", wanted)
        return {str(row[0]): JobState(row[1]) for row in rows}

    async def _job(self, row: Any) -> Job:
        found = await self.database.fetch_all(
            "SELECT param, filename, data, file FROM job_images WHERE job_id = ?", (row["id"],)
        )
        images = {
            str(p): ImageData(await self.files.get(file) if file and self.files else bytes(d), str(f))
            for p, f, d, file in found
        }
        targets = {name: tuple(tuple(t) for t in pairs) for name, pairs in json.loads(row["image_targets"]).items()}
        bound = BoundWorkflow(
            template=row["template"],
            graph=json.loads(row["graph"]),
            values=json.loads(row["params"]),
            output_nodes=tuple(json.loads(row["output_nodes"])),
            images=images,
            targets=targets,
        )
        request = JobRequest(
            row["user_id"],
            row["guild_id"],
            row["channel_id"],
            bound,
            row["kind"],
            row["parent_id"],
            row["note"],
            bool(row["spoiler"]),
            row["locale"],
            bool(row["private"]),
            row["weight"] if row["weight"] is not None else 1.0,
        )
        job = Job(
            request,
            id=row["id"],
            state=JobState(row["state"]),
            backend=row["backend"],
            prompt_id=row["prompt_id"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
            error=row["error"],
            attempts=row["attempts"],
            gpu_seconds=row["gpu_seconds"],
            load_seconds=row["load_seconds"],
        )
        job.seq = row["seq"]
        job.outputs = json.loads(row["outputs"]) if row["outputs"] else []
        return job


def _seed(values: Any) -> int | None:
    seed = values.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) else None
