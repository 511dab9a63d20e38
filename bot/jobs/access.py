"""Who may do what, decided here and nowhere else; everything a server's people can touch is that server's.

- A member acts on their own jobs and results, wherever they are.
- In a server, its moderators (`DISCORD__MODERATOR_ROLE_IDS`) and its admins (Manage Server or Administrator, as
  Discord computed them for the interaction, or one of the server's admin roles from `/config`) act on that
  server's jobs and results: never another server's, whatever they hold there.
- Where a server lets everyone reroll (`/rerolls everyone`, its policy's `everyone_follows_up`), anyone there
  may follow up on its results (not delete them).
- What every server shares belongs to the bot's operators: the application's owner or team members, and
  `DISCORD__OPERATOR_IDS`. They pause and resume ComfyUI servers and may clear every queue at once.

A job named by a member is found among the jobs they may act on only: by its exact id, or by a prefix of one of
their own. "No such job" and "not yours" are one answer, so nothing tells whether an id exists.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .model import Job
from .policy import Policies

FOLLOW_UPS = frozenset({"reroll", "vary", "upscale", "edit"})


@dataclass(frozen=True, slots=True)
class Asker:
    """Who asks, and where: the one value every rule reads, as the cogs read it from Discord (an interaction, or
    a reaction's member)."""

    user_id: int
    guild_id: int | None  # where they are asking; None in direct messages
    channel_id: int = 0
    locale: str = "en-US"  # theirs for an interaction; a reaction carries none (the result's is used)
    roles: frozenset[int] = frozenset()
    channel_nsfw: bool = False  # the channel is age-restricted
    manages_guild: bool = False  # Manage Server or Administrator in `guild_id`, as Discord computed it


class Access:
    def __init__(self, policies: Policies, moderator_roles: Iterable[int], operators: Iterable[int] = ()) -> None:
        self.policies = policies
        self.moderator_roles = frozenset(moderator_roles)
        self.operators = set(operators)

    def add_operators(self, user_ids: Iterable[int]) -> None:
        """The application's owner or team, learnt once the bot has logged in."""
        self.operators.update(user_ids)

    def operator(self, actor: Asker) -> bool:
        return actor.user_id in self.operators

    def admin(self, actor: Asker) -> bool:
        """Administers the server they are in (never true in direct messages)."""
        if actor.guild_id is None:
            return False
        return actor.manages_guild or bool(actor.roles & self.policies.of(actor.guild_id).admin_roles)

    def moderator(self, actor: Asker) -> bool:
        return self.admin(actor) or (actor.guild_id is not None and bool(actor.roles & self.moderator_roles))

    def may_act_on(self, actor: Asker, job: Job, action: str) -> bool:
        """Whether `actor` may `action` (cancel, delete, or a follow-up) `job`."""
        if actor.user_id == job.user_id:
            return True
        if job.request.guild_id is None or job.request.guild_id != actor.guild_id:
            return False  # another server's, or someone's direct messages
        if self.moderator(actor):
            return True
        return action in FOLLOW_UPS and self.policies.of(job.request.guild_id).everyone_follows_up

    def find(self, actor: Asker, jobs: Iterable[Job], named: str, action: str = "cancel") -> Job | None:
        """The job `named` that `actor` may `action`: an exact id, or a prefix of one of their own; None alike
        for an id that does not exist and one they may not touch."""
        named = named.strip().lower()
        if not named:
            return None
        candidates = list(jobs)
        exact = next((j for j in candidates if j.id == named), None)
        if exact is not None:
            return exact if self.may_act_on(actor, exact, action) else None
        own = [j for j in candidates if j.user_id == actor.user_id and j.id.startswith(named)]
        return own[0] if len(own) == 1 else None  # a prefix of several is no answer
