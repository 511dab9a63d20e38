"""Shared fixtures: a fake ComfyUI on 127.0.0.1, an aiohttp session, clients and backends pointed at it."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]
import pytest
from hypothesis import settings

from bot.comfy.backend import ComfyBackend
from bot.comfy.client import ComfyClient
from bot.comfy.stream import ComfyStream
from tests import postgres
from tests.fakes.comfy_server import FakeComfy
from tests.fakes.discord_api import FakeDiscord

# Property tests are derandomized (a fixed seed, no example database) so a clean clone runs the same examples
# every time; HYPOTHESIS_PROFILE=explore searches afresh, and what it finds is pinned with @example.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

FIXTURES = Path(__file__).parent / "fixtures"
# The longest tests (real processes, restarts and takeovers, 5-30 s each, mostly waiting) start first, so the
# workers finish together instead of one running a soak alone at the end (`--durations=20` lists them).
FIRST = ("tests/test_soak.py", "tests/test_shared_processes.py", "tests/test_scripts.py", "tests/test_failover.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return FIRST.index(path) if path in FIRST else len(FIRST)

    items.sort(key=rank)  # stable: the rest keep their order


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
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    """The strict fake Discord on 127.0.0.1 (tests/fakes/discord_api.py)."""
    made = await FakeDiscord().start()
    yield made
    await made.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL cluster for this test process (tests/postgres.py): its URL."""
    why = postgres.missing()
    if why is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs PostgreSQL for the store's tests: {why}")
        pytest.skip(why)
    with postgres.running_postgres() as url:
        yield url


@pytest.fixture
async def postgres_url(postgres_server: str) -> str:
    """A database of its own for one test, on the session's cluster."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(postgres_server)
    try:
        await connection.execute(f"CREATE DATABASE {name}")
    finally:
        await connection.close()
    return postgres_server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str | None:
    """Each store test runs on both databases: None (SQLite at the test's path) or a PostgreSQL URL."""
    if request.param == "sqlite":
        return None
    return str(request.getfixturevalue("postgres_url"))


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


@pytest.fixture(autouse=True)
def _print_refusals(request: pytest.FixtureRequest) -> Iterator[None]:
    """On a failure, pytest shows what the fake Discord refused (printed after each whole-stack test)."""
    yield
    made = request.node.funcargs.get("stack") or request.node.funcargs.get("stack3")
    for refused in made.discord.refused() if made is not None else []:
        print("Discord refused", refused.method, refused.path, refused.status, refused.code, str(refused.json)[:400])


from tests.stack import stack, stack3  # noqa: E402, F401  (fixtures: the whole stack with one or three backends)
