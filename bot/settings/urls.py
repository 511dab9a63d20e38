"""URLs that may carry a password (a ComfyUI server behind basic auth, a PostgreSQL database): checked when the
settings are read, with messages that never repeat them, and shown to operators without their credentials."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

RESERVED = "/?#@"  # RFC 3986 gen-delims a userinfo cannot hold unescaped


def _head(url: str) -> str:
    """What follows the scheme, up to any query or fragment: where a user and password can be."""
    return re.split(r"[?#]", url.partition("://")[2], maxsplit=1)[0]


def credentials_problem(url: str, example: str) -> str | None:
    """Why `url` cannot be read as the operator meant it, in words that never contain the URL, or None.

    A password holding `/`, `?` or `#` ends the URL's authority early (`postgresql://u:pa/ss@host/db` is read
    as the host `u` and the path `/ss@host/db`), so the password would be shown as a path; a second `@` is
    read by some clients and not others. Both are refused: the password is written percent-encoded instead."""
    head = _head(url)
    if "@" in head:
        userinfo = head.rsplit("@", 1)[0]  # up to the last '@' before any query: the userinfo as its owner wrote it
        if any(c in userinfo for c in RESERVED):
            return "a user or password in the URL with / ? # or @ written as %2F %3F %23 %40"
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - read to check it: out of 0-65535, or not a number, raises
    except ValueError:
        return f"a port from 1 to 65535 after the host, as in {example}"
    if not parts.hostname:
        return f"a host after the scheme, as in {example}"
    return None


def shown(url: str) -> str:
    """The URL for messages and logs: scheme, host, port and path, never the user or password. Everything up to
    the last '@' is dropped, so even a malformed password (one holding '/') is never shown in part."""
    scheme, _, rest = url.partition("://")
    head = _head(url)
    parts = urlsplit(f"{scheme}://{rest[len(head.rsplit('@', 1)[0]) + 1 :] if '@' in head else rest}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{port}" if port else "") + parts.path
