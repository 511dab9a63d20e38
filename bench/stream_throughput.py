"""How fast the client parses and routes ComfyUI WebSocket events.

A separate process plays a ComfyUI that emits one prompt's sampler events as fast as it can, in the recorded
shapes: per step a `progress_state` snapshot, a `progress`, and (in the second run) a 40 KB type-4 preview.
This process follows the prompt with the real `ComfyStream` and consumes its `PromptRun`. Printed: events per
second parsed, routed and delivered, and this process's CPU time per event (the emitter's CPU is not counted).

    python bench/stream_throughput.py [--steps 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import struct
import time
import uuid
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.comfy.client import ComfyClient
from bot.comfy.events import ExecutionSuccess
from bot.comfy.stream import ComfyStream

PREVIEW = (Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "preview.jpg").read_bytes()


def frames(prompt_id: str, steps: int, previews: bool) -> list[str | bytes]:
    """One prompt's sampler events as the recorded server sends them (7 nodes, node 3 sampling)."""
    node = {
        "state": "running",
        "node_id": "3",
        "prompt_id": prompt_id,
        "display_node_id": "3",
        "parent_node_id": None,
        "real_node_id": "3",
    }
    finished = {
        n: {
            **node,
            "node_id": n,
            "display_node_id": n,
            "real_node_id": n,
            "value": 1.0,
            "max": 1.0,
            "state": "finished",
        }
        for n in ("4", "5", "6", "7")
    }
    meta = json.dumps(
        {
            "node_id": "3",
            "prompt_id": prompt_id,
            "display_node_id": "3",
            "parent_node_id": None,
            "real_node_id": "3",
            "image_type": "image/jpeg",
        }
    ).encode()
    preview = struct.pack(">II", 4, len(meta)) + meta + PREVIEW
    out: list[str | bytes] = []
    for step in range(1, steps + 1):
        nodes = {**finished, "3": {**node, "value": step, "max": steps}}
        out.append(json.dumps({"type": "progress_state", "data": {"prompt_id": prompt_id, "nodes": nodes}}))
        if previews:
            out.append(preview)
        out.append(
            json.dumps({"type": "progress", "data": {"value": step, "max": steps, "prompt_id": prompt_id, "node": "3"}})
        )
    out.append(json.dumps({"type": "execution_success", "data": {"prompt_id": prompt_id, "timestamp": 0}}))
    return out


def emitter(port_queue: multiprocessing.Queue[int], steps: int, previews: bool) -> None:
    async def ws(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await socket.send_str(
            json.dumps(
                {
                    "type": "status",
                    "data": {"status": {"exec_info": {"queue_remaining": 1}}, "sid": request.query["clientId"]},
                }
            )
        )
        await socket.receive()  # the client's feature_flags: it is ready
        for frame in frames(request.query["clientId"], steps, previews):  # the client id doubles as prompt id
            await (socket.send_bytes(frame) if isinstance(frame, bytes) else socket.send_str(frame))
        await socket.receive()
        return socket

    async def serve() -> None:
        app = web.Application()
        app.router.add_get("/ws", ws)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_queue.put(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(serve())


async def measure(port: int, prompt_id: str) -> tuple[int, float, float, int]:
    async with aiohttp.ClientSession() as session:
        client = ComfyClient(session, f"http://127.0.0.1:{port}")
        stream = ComfyStream(client, prompt_id, max_pending=1 << 20)
        run = stream.follow(prompt_id, submitted=False)
        stream.start()
        await stream.wait_connected()
        wall, cpu = time.perf_counter(), time.process_time()
        events = 0
        async for item in run:
            events += 1
            if isinstance(item, ExecutionSuccess):
                break
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        dropped = run.dropped_events
        await stream.close()
        return events, wall, cpu, dropped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000, help="sampler steps to emit per run")
    args = parser.parse_args()
    print(f"{'run':<28}{'events':>9}{'events/s':>12}{'CPU us/event':>14}{'dropped':>9}")
    for previews, steps in ((False, args.steps), (True, args.steps // 4)):
        ports: multiprocessing.Queue[int] = multiprocessing.Queue()
        process = multiprocessing.Process(target=emitter, args=(ports, steps, previews), daemon=True)
        process.start()
        try:
            events, wall, cpu, dropped = asyncio.run(measure(ports.get(timeout=30), str(uuid.uuid4())))
        finally:
            process.terminate()
        name = "text events" + (" + 40 KB previews" if previews else "")
        print(f"{name:<28}{events:>9}{events / wall:>12,.0f}{cpu / events * 1e6:>14.1f}{dropped:>9}")


if __name__ == "__main__":
    main()
