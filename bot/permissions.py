"""What the bot needs in a channel, as one list: the invite URL asks for exactly these, `/imagine` checks them
in the interaction's `app_permissions` before a job runs, and `check` reports them. Values are Discord's
permission bits (docs.discord.com/developers/topics/permissions#permissions-bitwise-permission-flags).

Why each: results past the 15-minute interaction token are posted and edited through the channel (view, send,
embed links, attach files), reactions are read and acknowledged (read history, add reactions). Removing a
member's reaction would need Manage Messages; without it the bot answers with ✅, so it is not asked for.
Slash commands need the `applications.commands` scope, and no privileged intent is used.
"""

from __future__ import annotations

from urllib.parse import urlencode

NEEDED: dict[str, int] = {
    "view_channel": 1 << 10,
    "send_messages": 1 << 11,
    "embed_links": 1 << 14,
    "attach_files": 1 << 15,
    "read_message_history": 1 << 16,
    "add_reactions": 1 << 6,
}
SCOPES = ("bot", "applications.commands")
AUTHORIZE = "https://discord.com/oauth2/authorize"


def needed_value() -> int:
    value = 0
    for bit in NEEDED.values():
        value |= bit
    return value


def missing(granted: int) -> list[str]:
    """The needed permissions `granted` lacks, by name, in the list's order."""
    return [name for name, bit in NEEDED.items() if not granted & bit]


def invite_url(application_id: int) -> str:
    query = {"client_id": str(application_id), "scope": " ".join(SCOPES), "permissions": str(needed_value())}
    return f"{AUTHORIZE}?{urlencode(query)}"


ADMINISTRATOR = 1 << 3
ALL = (1 << 53) - 1


def channel_permissions(
    *,
    guild_id: int,
    owner_id: int,
    member_id: int,
    member_roles: list[int],
    roles: dict[int, int],
    overwrites: list[tuple[int, int, int, int]],
) -> int:
    """A member's permissions in a channel, as Discord computes them (topics/permissions#permission-overwrites):
    the @everyone role (its id is the guild's) and the member's roles, all for the owner or an administrator,
    then the channel's overwrites for @everyone, for the member's roles together, and for the member.
    `overwrites`: (id, type 0 role / 1 member, allow, deny)."""
    if member_id == owner_id:
        return ALL
    value = roles.get(guild_id, 0)
    for role in member_roles:
        value |= roles.get(role, 0)
    if value & ADMINISTRATOR:
        return ALL
    by_target = {(target, kind): (allow, deny) for target, kind, allow, deny in overwrites}
    allow, deny = by_target.get((guild_id, 0), (0, 0))
    value = (value & ~deny) | allow
    role_allow = role_deny = 0
    for role in member_roles:
        allowed, denied = by_target.get((role, 0), (0, 0))
        role_allow, role_deny = role_allow | allowed, role_deny | denied
    value = (value & ~role_deny) | role_allow
    allow, deny = by_target.get((member_id, 1), (0, 0))
    return (value & ~deny) | allow
