"""The one exception tree of the jobs package. A `RefusedRequest` is for the member (in their language, through
the cogs' one error path); the rest are for the operator's log, and end the job with a message of their own."""

from __future__ import annotations

from typing import Self

from bot.i18n import LocalizedError, Text


class JobError(Exception):
    """Anything the jobs package raises."""


class RefusedRequest(JobError, LocalizedError):
    """What a member asked for cannot be made: a wrong flag, a limit, a follow-up that cannot be; the message
    says why and what to change."""

    @classmethod
    def saying(cls, text: Text) -> Self:
        """The refusal that says `text` (a reason found by a check, or another error's words)."""
        return cls(text.key, **text.params)


class IllegalTransition(JobError):
    """A job was moved to a state its state machine does not allow (a bug)."""
