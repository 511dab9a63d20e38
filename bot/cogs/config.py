"""/config (admins): a server's own rules: channels, roles, admin roles, DMs, banned words, spoilers, and its GPU
economy: each member's daily and weekly budget of GPU time, what happens past it, and the roles' weights."""

from __future__ import annotations

import re
from dataclasses import replace

import discord
from discord import app_commands
from discord.ext import commands

from bot.i18n import Listed, LocalizedError, Text, text_of
from bot.jobs.access import Access
from bot.jobs.controls import Controls
from bot.jobs.errors import RefusedRequest
from bot.jobs.policy import Policies, Policy

from .actors import asker
from .replies import tell

OPTIONS = {
    "channels": "channels where images may be made (mentions or ids; 'all')",
    "roles": "roles that may make images (mentions or ids; 'all')",
    "admin_roles": "roles that may administer the bot (mentions or ids; 'none')",
    "banned_words": "words refused in prompts (comma-separated; 'none')",
    "spoiler_outside_nsfw": "spoiler results outside age-restricted channels (on or off)",
    "allow_private": "members may choose private results (on or off)",
    "daily_budget": "GPU minutes per member per day (0: none)",
    "weekly_budget": "GPU minutes per member per week, from Monday (0: none)",
    "over_budget": "past a budget: relax (wait for idle GPUs) or refuse",
    "role_weights": "roles' shares of GPU time, like @Booster=2 (comma-separated; 'none')",
}
BUDGET_MINUTES = 7 * 24 * 60  # a week's minutes: the most any budget can be
WEIGHT_MAX = 100.0
SWITCHES = ("spoiler_outside_nsfw", "allow_private")  # direct messages are no server's: POLICY__DMS decides


class ConfigValueError(LocalizedError, ValueError):
    """What an admin typed does not fit the option."""


def _ids(value: str) -> frozenset[int]:
    return (
        frozenset()
        if value.strip().lower() in ("all", "none", "")
        else frozenset(int(x) for x in re.findall(r"\d+", value))
    )


def parse_switch(value: str) -> bool:
    if value.strip().lower() in ("on", "true", "yes", "1"):
        return True
    if value.strip().lower() in ("off", "false", "no", "0"):
        return False
    raise ConfigValueError("config.on_off")


def changed(policy: Policy, option: str, value: str) -> Policy:
    """`policy` with one option set from what an admin typed; ConfigValueError when the value does not fit."""
    if option in ("channels", "roles", "admin_roles"):
        return replace(policy, **{option: _ids(value)})  # type: ignore[arg-type]
    if option in SWITCHES:
        return replace(policy, **{option: parse_switch(value)})  # type: ignore[arg-type]
    if option == "banned_words":
        words = tuple(w.strip() for w in value.split(",") if w.strip() and value.strip().lower() != "none")
        return replace(policy, banned_words=words, _pattern=None)
    if option in ("daily_budget", "weekly_budget"):
        return replace(policy, **{option: _minutes(value) * 60})  # type: ignore[arg-type]
    if option == "over_budget":
        mode = value.strip().lower()
        if mode not in ("relax", "refuse"):
            raise ConfigValueError("config.relax_or_refuse")
        return replace(policy, over_budget=mode)
    if option == "role_weights":
        return replace(policy, role_weights=_weights(value))
    raise ConfigValueError("config.unknown_option", option=option)


def _minutes(value: str) -> float:
    try:
        minutes = float(value.strip().lower().removesuffix("min").strip() or "x")
    except ValueError:
        raise ConfigValueError("config.minutes", most=BUDGET_MINUTES) from None
    if not 0 <= minutes <= BUDGET_MINUTES:  # (also refuses NaN)
        raise ConfigValueError("config.minutes", most=BUDGET_MINUTES)
    return minutes


def _weights(value: str) -> tuple[tuple[int, float], ...]:
    """`<@&123>=2, 456=1.5` -> ((123, 2.0), (456, 1.5)); 'none' clears them."""
    if value.strip().lower() in ("none", ""):
        return ()
    weights: dict[int, float] = {}
    for item in value.split(","):
        match = re.fullmatch(r"\s*(?:<@&)?(\d+)>?\s*[=:]\s*([0-9]+(?:\.[0-9]+)?)\s*", item)
        if match is None or not 0 < float(match[2]) <= WEIGHT_MAX:
            raise ConfigValueError("config.weights", most=f"{WEIGHT_MAX:g}")
        weights[int(match[1])] = float(match[2])
    return tuple(sorted(weights.items()))


def describe(policy: Policy) -> Text:
    def listed(ids: frozenset[int], form: str, empty: str) -> Text | Listed:
        return Listed([form.format(i) for i in sorted(ids)]) if ids else Text(empty)

    def switch(on: bool) -> Text:
        return Text("config.on" if on else "config.off")

    return Text(
        "config.show",
        channels=listed(policy.channels, "<#{}>", "config.every_channel"),
        roles=listed(policy.roles, "<@&{}>", "config.every_member"),
        admin_roles=listed(policy.admin_roles, "<@&{}>", "config.manage_server"),
        banned=len(policy.banned_words),
        spoiler=switch(policy.spoiler_outside_nsfw),
        private=switch(policy.allow_private),
        daily=_budget(policy.daily_budget),
        weekly=_budget(policy.weekly_budget),
        over=Text(f"config.{policy.over_budget}"),
        weights=Listed([f"<@&{role}>: {weight:g}" for role, weight in policy.role_weights])
        if policy.role_weights
        else Text("config.no_weights"),
    )


def _budget(seconds: float) -> Text:
    return Text("config.minutes_of", minutes=f"{seconds / 60:g}") if seconds else Text("config.no_budget")


class ConfigCog(commands.GroupCog, group_name="config", group_description="This server's rules for the bot"):
    def __init__(self, policies: Policies, access: Access, controls: Controls) -> None:
        self.policies, self.access, self.controls = policies, access, controls
        super().__init__()

    @app_commands.command(name="show", description="This server's rules for the bot")
    async def show(self, interaction: discord.Interaction) -> None:
        await tell(interaction, describe(self.policies.of(interaction.guild_id)))

    @app_commands.command(name="set", description="Change one of this server's rules (admins)")
    @app_commands.describe(option="The rule to change", value="Its new value")
    @app_commands.choices(option=[app_commands.Choice(name=f"{k}: {v}"[:100], value=k) for k, v in OPTIONS.items()])
    async def set_(self, interaction: discord.Interaction, option: str, value: str) -> None:
        if interaction.guild_id is None or not self.access.admin(asker(interaction)):
            raise RefusedRequest("config.admins")
        policy = self.policies.of(interaction.guild_id)
        try:
            policy = changed(policy, option, value)
        except ValueError as exc:
            await tell(interaction, "config.bad_value", warn=True, option=option, error=text_of(exc))
            return
        await self.policies.set(interaction.guild_id, policy)
        self.controls.budgets_changed()  # a member now past (or back under) a budget changes lanes at once
        await tell(interaction, "config.saved", policy=describe(policy))
