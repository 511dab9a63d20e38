"""A large fleet: the connections to ComfyUI are sized from it (`bot/comfy/connections.py`), so past aiohttp's
default of 100 connections every server is checked, followed and used."""

from __future__ import annotations

from pathlib import Path

from bot.comfy.connections import REST_PER_SERVER, fleet_connector
from tests.discord_helpers import deliver
from tests.stack import stacked

SERVERS = 110  # past the 100 connections of aiohttp's default connector, which 110 WebSockets would hold


async def test_a_fleet_past_a_hundred_servers_comes_up_and_runs_jobs(tmp_path: Path) -> None:
    async for stack in stacked(SERVERS, tmp_path):
        async with stack.start() as app:
            unhealthy = [name for name, state in app.pool.states.items() if not state.healthy]
            _, result = await deliver(stack.discord, "a fox in a large fleet")
            followed = sum(1 for comfy in stack.comfys if comfy.sockets)
        assert unhealthy == []
        assert result.embeds[0]["title"] == "Done"
        assert followed == SERVERS  # a WebSocket to every server, and REST calls still got through


async def test_each_server_gets_its_websocket_and_bounded_rest_and_servers_behind_one_origin_share() -> None:
    apart = fleet_connector([f"http://10.0.0.{n}:8188" for n in range(200)])
    assert (apart.limit, apart.limit_per_host) == (200 * (1 + REST_PER_SERVER), 1 + REST_PER_SERVER)
    proxied = fleet_connector(["https://gpu.example/a", "https://gpu.example/b", "https://other.example/"])
    assert (proxied.limit, proxied.limit_per_host) == (3 * (1 + REST_PER_SERVER), 2 * (1 + REST_PER_SERVER))
    await apart.close()
    await proxied.close()
