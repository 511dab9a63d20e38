"""The connections the bot keeps to its ComfyUI servers, sized from the fleet: each server's WebSocket, plus at
most `REST_PER_SERVER` REST calls at once to each, so a fleet of any size comes up and a slow server cannot take
the connections the others need (its own calls wait for its own).

aiohttp's default connector allows 100 connections in all and none per host: with 100 servers, their 100
WebSockets held every connection and no health check could start (each timed out; the bot never came up).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiohttp

REST_PER_SERVER = 8  # the running prompt's and the next one's calls, a result's files, a health check, an upload


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname or "", parts.port


def fleet_connector(urls: Sequence[str], *, rest_per_server: int = REST_PER_SERVER) -> aiohttp.TCPConnector:
    """A connector for servers at `urls`: room for every server's WebSocket and REST calls together, and per
    origin (aiohttp's "host": scheme, host, port) room for the servers behind it (several may share one, under
    different paths of a proxy)."""
    per_server = 1 + rest_per_server
    sharing = max(Counter(_origin(url) for url in urls).values(), default=1)
    return aiohttp.TCPConnector(limit=per_server * max(1, len(urls)), limit_per_host=per_server * sharing)


def fleet_session(urls: Sequence[str], *, rest_per_server: int = REST_PER_SERVER) -> aiohttp.ClientSession:
    """The session every ComfyUI client and stream of the process shares."""
    return aiohttp.ClientSession(connector=fleet_connector(urls, rest_per_server=rest_per_server))
