"""What members, admins and operators change besides asking for jobs: a result found by its button's id or its
message, cancelling one job or a server's queue, pausing a ComfyUI server, a member's defaults, a held result
released. Who may is `access.py`'s; the cogs ask here and hold no store, pool or engine."""

from __future__ import annotations

from bot.comfy.pool import BackendPool
from bot.i18n import Text

from .access import Access, Asker
from .engine import JobEngine
from .errors import RefusedRequest
from .model import Job
from .store import JobStore, held


class Controls:
    def __init__(self, engine: JobEngine, pool: BackendPool, store: JobStore, access: Access) -> None:
        self._engine, self._pool, self._store, self.access = engine, pool, store, access

    # ---- results, on any message ever made (the database has them, after any restart) ----------------

    async def result(self, job_id: str) -> Job | None:
        return await self._store.get(job_id)

    async def result_on(self, message_id: int) -> Job | None:
        return await self._store.by_message(message_id)

    def running(self, job: Job) -> bool:
        """Unfinished (queued or running) in this process's engine."""
        return job.id in self._engine.active

    def budgets_changed(self) -> None:
        """A server's budgets changed: queued jobs go to the lane their members' use now says."""
        self._engine.rebudget()

    async def release(self, job_id: str) -> None:
        """A held result handed to its maker (`/history`): no longer kept."""
        await held.release(self._store, job_id)

    # ---- cancelling ----------------------------------------------------------------------------------

    def cancellable(self, asker: Asker, job_id: str, *, typed: bool) -> Job | None:
        """The unfinished job `asker` may cancel. A typed id (or a prefix of one of their own) is None alike
        when it does not exist and when it is not theirs; a Cancel button, on a message they see, is told."""
        if typed:
            return self.access.find(asker, self._engine.active.values(), job_id)
        match = self._engine.active.get(job_id)
        if match is not None and not self.access.may_act_on(asker, match, "cancel"):
            raise RefusedRequest("cancel.not_yours")
        return match

    async def cancel(self, job_id: str, by: Text) -> Text:
        return await self._engine.cancel(job_id, by)

    def may_clear(self, asker: Asker, *, everywhere: bool) -> None:
        """A server's queue is its admins' to clear; every server's, the bot's operators'."""
        if everywhere and not self.access.operator(asker):
            raise RefusedRequest("clearqueue.operators")
        if not everywhere and not self.access.admin(asker):
            raise RefusedRequest("clearqueue.admins")

    async def clear_queue(self, asker: Asker, by: Text, *, everywhere: bool) -> int:
        self.may_clear(asker, everywhere=everywhere)
        return await self._engine.clear_queue(by, None if everywhere else asker.guild_id)

    # ---- the shared ComfyUI servers (the bot's operators) ----------------------------------------------

    def set_paused(self, name: str, *, paused: bool) -> bool:
        """False when no server has that name."""
        if name not in self._pool.states:
            return False
        (self._pool.pause if paused else self._pool.resume)(name)
        return True

    # ---- a member's defaults for /imagine --------------------------------------------------------------

    async def defaults(self, user_id: int) -> dict[str, str]:
        return await self._store.member_settings(user_id)

    async def set_default(self, user_id: int, key: str, value: str | None) -> None:
        """None clears it."""
        await self._store.set_member_setting(user_id, key, value)
