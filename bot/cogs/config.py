"""/config (admins): a server's own rules: channels, roles, admin roles, DMs, banned words, spoilers."""

from __future__ import annotations

import re
from dataclasses import replace

import discord
from discord import app_commands
from discord.ext import commands

from bot.jobs.policy import Policies, Policy

OPTIONS = {
    "channels": "channels where images may be made (mentions or ids; 'all')",
    "roles": "roles that may make images (mentions or ids; 'all')",
    "admin_roles": "roles that may administer the bot (mentions or ids; 'none')",
    "dms": "make images in direct messages (on or off)",
    "banned_words": "words refused in prompts (comma-separated; 'none')",
    "spoiler_outside_nsfw": "spoiler results outside age-restricted channels (on or off)",
}


def _ids(value: str) -> frozenset[int]:
    return (
        frozenset()
        if value.strip().lower() in ("all", "none", "")
        else frozenset(int(x) for x in re.findall(r"\d+", value))
    )


def _switch(value: str) -> bool:
    if value.strip().lower() in ("on", "true", "yes", "1"):
        return True
    if value.strip().lower() in ("off", "false", "no", "0"):
        return False
    raise ValueError("say on or off")


def changed(policy: Policy, option: str, value: str) -> Policy:
    """`policy` with one option set from what an admin typed; ValueError when the value does not fit."""
    if option == "channels":
        return replace(policy, channels=_ids(value))
    if option == "roles":
        return replace(policy, roles=_ids(value))
    if option == "admin_roles":
        return replace(policy, admin_roles=_ids(value))
    if option == "dms":
        return replace(policy, dms=_switch(value))
    if option == "spoiler_outside_nsfw":
        return replace(policy, spoiler_outside_nsfw=_switch(value))
    if option == "banned_words":
        words = tuple(w.strip() for w in value.split(",") if w.strip() and value.strip().lower() != "none")
        return replace(policy, banned_words=words, _pattern=None)
    raise ValueError(f"unknown option {option}")


def describe(policy: Policy) -> str:
    def listed(ids: frozenset[int], form: str, empty: str) -> str:
        return ", ".join(form.format(i) for i in sorted(ids)) or empty

    return "\n".join(
        [
            f"channels: {listed(policy.channels, '<#{}>', 'every channel')}",
            f"roles: {listed(policy.roles, '<@&{}>', 'every member')}",
            f"admin_roles: {listed(policy.admin_roles, '<@&{}>', 'only Manage Server')}",
            f"dms: {'on' if policy.dms else 'off'}",
            f"banned_words: {len(policy.banned_words)} word(s)",
            f"spoiler_outside_nsfw: {'on' if policy.spoiler_outside_nsfw else 'off'}",
        ]
    )


class ConfigCog(commands.GroupCog, group_name="config", group_description="This server's rules for the bot"):
    def __init__(self, policies: Policies) -> None:
        self.policies = policies
        super().__init__()

    def _may_administer(self, interaction: discord.Interaction) -> bool:
        permissions = interaction.permissions
        roles = {r.id for r in getattr(interaction.user, "roles", [])}
        admin_roles = self.policies.of(interaction.guild_id).admin_roles
        return bool(permissions.manage_guild or permissions.administrator or roles & admin_roles)

    @app_commands.command(name="show", description="This server's rules for the bot")
    async def show(self, interaction: discord.Interaction) -> None:
        text = describe(self.policies.of(interaction.guild_id))
        await interaction.response.send_message(text, ephemeral=True)

    @app_commands.command(name="set", description="Change one of this server's rules (admins)")
    @app_commands.choices(option=[app_commands.Choice(name=f"{k}: {v}"[:100], value=k) for k, v in OPTIONS.items()])
    async def set_(self, interaction: discord.Interaction, option: str, value: str) -> None:
        if interaction.guild_id is None or not self._may_administer(interaction):
            await interaction.response.send_message("Only this server's admins can change its rules.", ephemeral=True)
            return
        policy = self.policies.of(interaction.guild_id)
        try:
            policy = changed(policy, option, value)
        except ValueError as exc:
            await interaction.response.send_message(f"⚠️ {option}: {exc}.", ephemeral=True)
            return
        await self.policies.set(interaction.guild_id, policy)
        await interaction.response.send_message(f"Saved.\n{describe(policy)}", ephemeral=True)
