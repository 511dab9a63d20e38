"""Shared fixtures: a fake ComfyUI on 127.0.0.1, an aiohttp session, clients and backends pointed at it."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.comfy.backend import ComfyBackend
from bot.comfy.client import ComfyClient
from bot.comfy.stream import ComfyStream
from tests.fakes.comfy_server import FakeComfy

FIXTURES = Path(__file__).parent / "fixtures"


def graph(name: str, **inputs: Any) -> dict[str, Any]:
    """A recorded graph; keyword `node__input=value` sets one input (`3__steps=2`)."""
    loaded: dict[str, Any] = json.loads((FIXTURES / "graphs" / f"{name}.json").read_text())
    result = copy.deepcopy(loaded)
    for key, value in inputs.items():
        node, _, name_ = key.partition("__")
        result[node]["inputs"][name_] = value
    return result


@pytest.fixture
async def fake() -> AsyncIterator[FakeComfy]:
    server = await FakeComfy().start()
    yield server
    await server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
def client(fake: FakeComfy, session: aiohttp.ClientSession) -> ComfyClient:
    return ComfyClient(session, fake.base_url, timeout=5.0, retries=2, backoff=0.01)


BackendFactory = Callable[..., ComfyBackend]


@pytest.fixture
async def make_backend(fake: FakeComfy, session: aiohttp.ClientSession) -> AsyncIterator[BackendFactory]:
    """Backends with short timeouts, closed at the end of the test."""
    made: list[ComfyBackend] = []

    def factory(url: str | None = None, client_id: str | None = None, **stream_options: Any) -> ComfyBackend:
        client = ComfyClient(session, url or fake.base_url, timeout=5.0, retries=2, backoff=0.01)
        options: dict[str, Any] = {
            "heartbeat": 5.0,
            "connect_timeout": 1.0,
            "reconnect_delay": 0.02,
            "reconnect_max_delay": 0.1,
        }
        options.update(stream_options)
        stream = ComfyStream(client, client_id or uuid.uuid4().hex, **options)
        backend = ComfyBackend("fake", client, stream)
        backend.start()
        made.append(backend)
        return backend

    yield factory
    for backend in made:
        await backend.close()


@pytest.fixture
async def backend(make_backend: BackendFactory) -> ComfyBackend:
    made = make_backend()
    await made.stream.wait_connected()
    return made


from tests.stack import stack, stack3  # noqa: E402, F401  (fixtures: the whole stack with one or three backends)
