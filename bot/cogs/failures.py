"""The one error path: what a command, button, form or menu raised becomes the member's message, in their
language. A refusal (the jobs package's `RefusedRequest`, raised by the door, a check or anywhere in a handler)
says why, in place of the loading message when there is one; anything else is logged with its cause and the
member told it went wrong on our side, never left with "This interaction failed"."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

import discord
from discord import app_commands

from bot.jobs.errors import RefusedRequest

from .replies import tell

log = logging.getLogger(__name__)
P = ParamSpec("P")
S = TypeVar("S")


async def tell_failure(interaction: discord.Interaction, error: BaseException) -> None:
    cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    try:
        if isinstance(cause, RefusedRequest):
            await tell(interaction, cause.text, warn=True)
            return
        data: dict[str, object] = dict(interaction.data or {})
        what = getattr(interaction.command, "qualified_name", None) or data.get("custom_id", "?")
        log.error("%s failed", what, exc_info=cause)
        await tell(interaction, "errors.command", warn=True)
    except discord.HTTPException as exc:
        log.warning("could not tell the member: %s", exc)


def answering(
    handler: Callable[Concatenate[S, discord.Interaction, P], Awaitable[None]],
) -> Callable[Concatenate[S, discord.Interaction, P], Awaitable[None]]:
    """For the handlers of buttons, forms and menus (the command tree has its own hook, `tell_failure` too)."""

    @functools.wraps(handler)
    async def answered(self: S, interaction: discord.Interaction, /, *args: P.args, **kwargs: P.kwargs) -> None:
        try:
            await handler(self, interaction, *args, **kwargs)
        except Exception as exc:
            await tell_failure(interaction, exc)

    return answered
