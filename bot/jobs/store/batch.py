"""Group commit: writes that arrive while a commit is under way share the next one.

Every write is a short list of statements, and its caller waits until they are committed. Writes are committed
in the order they were asked for, on either database. A busy
bot makes many small writes at once (a burst of asks, dozens of jobs changing state in the same second), and
each one alone costs a commit and a trip to the database thread per statement. Gathered, consecutive
statements with the same SQL go as one `executemany` and the whole group shares one commit: the order of the
statements is kept, so a job's insert still precedes its update. When a group fails, each write is tried alone,
so one bad write fails only its own caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement and its parameters: one row, or (`many`) a list of rows for `executemany`."""

    sql: str
    params: Sequence[Any] = ()
    many: bool = False

    def rows(self) -> list[Sequence[Any]]:
        return list(self.params) if self.many else [self.params]


@dataclass(slots=True)
class _Write:
    statements: Sequence[Statement]
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


Commit = Callable[[Sequence["Run"]], Awaitable[None]]  # runs and commits them, or raises (rolled back)
Run = tuple[str, list[Sequence[Any]]]  # one SQL statement and its rows


class WriteBatch:
    def __init__(self, commit: Commit) -> None:
        self._commit = commit  # raises what the callers are given when the database refuses (a StoreError)
        self._pending: list[_Write] = []
        self._flushing: asyncio.Task[None] | None = None

    async def write(self, statements: Sequence[Statement]) -> None:
        """Run the statements in a transaction; return once it is committed."""
        write = _Write(statements)
        self._pending.append(write)
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_forever(), name="store-group-commit")
        try:
            await asyncio.shield(write.done)  # a cancelled caller does not cancel the others' commit
        except asyncio.CancelledError:
            write.done.add_done_callback(_consume)
            raise

    async def drain(self) -> None:
        """Wait until every write asked for so far is committed (or refused): before the store closes."""
        while self._flushing is not None and not self._flushing.done():
            await asyncio.shield(self._flushing)

    async def _flush_forever(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            error = await self._attempt([s for write in group for s in write.statements])
            if error is None or len(group) == 1:
                for write in group:
                    _settle(write, error)
                continue
            for write in group:  # which one was it: each alone, so the others still land
                _settle(write, await self._attempt(write.statements))

    async def _attempt(self, statements: Sequence[Statement]) -> Exception | None:
        """Run and commit the statements: None, or what their callers are given (rolled back)."""
        try:
            await self._commit(runs_of(statements))
        except Exception as exc:  # a refusal, or a closed connection: the callers learn it, none waits forever
            return exc
        return None


def runs_of(statements: Sequence[Statement]) -> list[Run]:
    """Consecutive statements with the same SQL, as one (sql, rows) each; the order is kept."""
    runs: list[Run] = []
    for statement in statements:
        if runs and runs[-1][0] == statement.sql:
            runs[-1][1].extend(statement.rows())
        else:
            runs.append((statement.sql, statement.rows()))
    return runs


def _consume(done: asyncio.Future[None]) -> None:
    """Nobody waits for this write any more: its failure is not an unretrieved exception."""
    if not done.cancelled():
        done.exception()


def _settle(write: _Write, error: Exception | None) -> None:
    if write.done.done():
        return
    if error is None:
        write.done.set_result(None)
    else:
        write.done.set_exception(error)
