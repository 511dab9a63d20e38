"""Everything the bot sends is fitted to Discord's limits here, last, whatever went into it: member text quoted
back, ComfyUI's error texts, long lists.

Limits (Discord's developer documentation, docs.discord.com/developers): resources/message#create-message
(content up to 2000 characters) and resources/message#embed-object-embed-limits (title 256, description 4096,
25 fields, field name 256 and value 1024, both required and not blank, footer 2048, author 256, 6000 in all
across a message's embeds). A text over its limit is cut with an ellipsis; a blank field shows `empty`.
"""

from __future__ import annotations

import discord

CONTENT_MAX = 2000
TITLE_MAX, DESCRIPTION_MAX = 256, 4096
FIELDS_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX = 25, 256, 1024
FOOTER_MAX, AUTHOR_MAX, EMBED_TOTAL_MAX = 2048, 256, 6000
ELLIPSIS = "…"
EMPTY = "—"


def clip(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + ELLIPSIS


def shown(value: object, limit: int, empty: str = EMPTY) -> str:
    """A value as a field shows it: zero is "0", nothing or blank is `empty`, long is cut."""
    text = "" if value is None else str(value)
    return clip(text, limit) if text.strip() else empty


def as_typed(value: object) -> str:
    """A member's text (a prompt, a negative, a name) shown as they typed it: its Markdown escaped, so a masked
    link `[text](url)` is not clickable, nor `**` bold, wherever the bot repeats it."""
    return discord.utils.escape_markdown("" if value is None else str(value))


def fit_content(text: str | None) -> str:
    return clip(text or "", CONTENT_MAX)


def fit_embed(embed: discord.Embed, empty: str = EMPTY) -> discord.Embed:
    """`embed` within every embed limit: each part cut to its own limit, blank fields given `empty`, extra
    fields dropped, then the longest parts shortened until the whole fits in 6000."""
    if embed.title is not None:
        embed.title = clip(str(embed.title), TITLE_MAX)
    if embed.description is not None:
        embed.description = clip(str(embed.description), DESCRIPTION_MAX) or None
    fields = [
        (shown(f.name, FIELD_NAME_MAX, empty), shown(f.value, FIELD_VALUE_MAX, empty), bool(f.inline))
        for f in embed.fields[:FIELDS_MAX]
    ]
    footer = embed.footer.text
    if footer is not None:
        embed.set_footer(text=clip(str(footer), FOOTER_MAX) or None, icon_url=embed.footer.icon_url)
    if embed.author.name is not None:
        embed.set_author(name=shown(embed.author.name, AUTHOR_MAX, empty), url=embed.author.url)
    embed.clear_fields()
    for name, value, inline in _within_total(embed, fields):
        embed.add_field(name=name, value=value, inline=inline)
    return embed


def _within_total(embed: discord.Embed, fields: list[tuple[str, str, bool]]) -> list[tuple[str, str, bool]]:
    fixed = len(embed.title or "") + len(embed.footer.text or "") + len(embed.author.name or "")
    fixed += sum(len(name) for name, _, _ in fields)
    while True:
        values = [len(embed.description or "")] + [len(value) for _, value, _ in fields]
        excess = fixed + sum(values) - EMBED_TOTAL_MAX
        if excess <= 0:
            return fields
        longest = max(range(len(values)), key=values.__getitem__)
        if values[longest] <= 1:  # only names and titles left to cut: drop the last field
            fixed -= len(fields.pop()[0])
            continue
        keep = max(1, values[longest] - excess)
        if longest == 0:
            embed.description = clip(embed.description or "", keep)
        else:
            name, value, inline = fields[longest - 1]
            fields[longest - 1] = (name, clip(value, keep), inline)
