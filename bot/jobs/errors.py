"""The one exception tree of the jobs package. A `RefusedRequest` is for the member (in their language, through
the cogs' one error path); the rest are for the operator's log, and end the job with a message of their own."""

from __future__ import annotations

from bot.i18n import LocalizedError


class JobError(Exception):
    """Anything the jobs package raises."""


class RefusedRequest(JobError, LocalizedError):
    """What a member asked for cannot be made: a wrong flag, a limit, a follow-up that cannot be; the message
    says why and what to change."""


class IllegalTransition(JobError):
    """A job was moved to a state its state machine does not allow (a bug)."""
