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
