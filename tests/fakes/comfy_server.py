"""A fake ComfyUI server on 127.0.0.1 that behaves like the recorded real one, scriptable per test.

Faithful to the recordings (tests/fixtures): response shapes and status codes, the WebSocket's first `status`
frame with `sid`, the `feature_flags` handshake (first message only), binary previews of type 1 or type 4 by
negotiation, type-3 text frames to everyone, per-client routing, the newest socket of a client id winning and
the id being forgotten when an older socket closes, unsorted `queue_pending`, `{}` for unknown history.

Scripting: `hold()`/`release()` sampler steps, `failures` (node id or class -> exception), `faults` on HTTP
routes (500, garbage, slow, dropped), `refuse_ws`, `drop_sockets()`, `restart()` (forgets queue and history),
`until(predicate)` to wait for the fake's state without sleeping.
"""

from __future__ import annotations

import asyncio
import gzip
import heapq
import json
import struct
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from . import comfy_hostile
from .comfy_exec import Executor, Interrupted, QueueItem, RunState
from .comfy_validate import PromptValidator, Rejected

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
Json = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TROUBLE = "500 Internal Server Error\n\nServer got itself in trouble"
VIEW_TYPES = {
    ".mp4": "video/mp4",
    ".webp": "image/webp",
    ".flac": "audio/flac",
    ".mp3": "audio/mpeg",
    ".png": "image/png",
}


def full_nodes(*names: str) -> Json:
    """Node classes as the recorded ComfyUI version defines them (its whole `/object_info`), for tests whose
    workflows use more than the recorded few: `fake.object_info.update(full_nodes("SaveVideo", ...))`."""
    with gzip.open(FIXTURES / "object_info_full.json.gz", "rt") as file:
        everything = json.load(file)
    return {name: everything[name] for name in names}


def load_object_info() -> Json:
    info: Json = json.loads((FIXTURES / "object_info_recorded.json").read_text())
    info.update(json.loads((FIXTURES / "object_info_extra.json").read_text()))
    return info


@dataclass
class Fault:
    """What the next matching request gets: "500", "garbage", "drop" (no answer), "lost" (handled, answer
    lost), "slow" (answered after `delay` seconds), "gated" (handled once `gate` is set) or "canned" (`status`
    and JSON `body` as given); hostile ones (comfy_hostile.py): "huge" (`size` bytes), "endless", "trickle"
    (the real answer, a byte every `delay` seconds), "steady" (a file that never ends, `size` bytes every
    `delay` seconds), "redirect" (302 to the URL in `body`)."""

    method: str
    path: str
    kind: str
    times: int = 1
    delay: float = 0.0
    status: int = 200
    body: Any = None
    gate: asyncio.Event | None = None
    size: int = 0


@dataclass
class Conn:
    ws: web.WebSocketResponse
    sid: str
    transport: asyncio.BaseTransport | None
    negotiated: bool = False
    frames_sent: int = 0


@dataclass
class FakeComfy:
    step_delay: float = 0.0
    # seconds a model loader takes when it runs, as the real server reads a checkpoint from disk (seconds to a
    # minute on GPUs); a loader whose inputs are the last prompt's is cached and costs nothing, as recorded
    # (b_cached_rerun.json: CheckpointLoaderSimple in `execution_cached`)
    model_load_seconds: float = 0.0
    supports_preview_metadata: bool = True  # False: an older server that ignores the handshake (type-1 previews)
    output_side: int = 64  # pixels of the images SaveImage writes
    output_noise: bool = False  # noise does not compress: a side of 600 makes a ~1 MiB PNG
    media_seconds: float = 1.0  # how long the videos and sounds the Save nodes write are
    host: str = "127.0.0.1"
    port: int = 0
    object_info: Json = field(default_factory=load_object_info)
    preview: bytes = field(default_factory=(FIXTURES / "preview.jpg").read_bytes)

    def __post_init__(self) -> None:
        self.failures: dict[str, tuple[str, str]] = {}
        self.faults: list[Fault] = []
        self.refuse_ws = False
        self.requests: list[tuple[str, str, Any]] = []
        self.client_ids_seen: list[str] = []  # the clientId of every WebSocket opened, in order
        self.headers_seen: list[dict[str, str]] = []
        self.files: dict[tuple[str, str, str], bytes] = {}
        # Hostile: the file names the next saved outputs declare ("../../x.png", "/etc/x"), served as named
        self.output_names: list[str] = []
        self.served_hostile: set[str] = set()
        self.sensitive_seen: list[Json] = []  # each prompt's Comfy.org key or token, as the nodes would get them
        self.output_data: dict[str, bytes] = {}  # what a named output holds instead of a PNG (a .txt, an .mp4)
        self.ws_connects = 0
        self.finished_at: dict[str, float] = {}  # prompt id -> when its last event was sent
        self.started_at: dict[str, float] = {}  # prompt id -> when the worker took it
        self._pulse = asyncio.Event()
        self._gate = asyncio.Event()
        self._gate.set()
        self._runner: web.AppRunner | None = None
        self._reset()

    def _reset(self) -> None:
        self.sockets: dict[str, Conn] = {}
        self.conns: list[Conn] = []
        self.pending: list[QueueItem] = []
        self.running: QueueItem | None = None
        self.history: dict[str, Json] = {}
        self.number = 0
        self.steps_done = 0
        self.interrupt_requested = False
        self.executor = Executor(self)
        self._worker: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FakeComfy:
        app = web.Application(middlewares=[self._fault_middleware], client_max_size=64 * 2**20)
        for prefix in ("", "/api"):
            app.router.add_get(prefix + "/ws", self._ws)
            app.router.add_post(prefix + "/prompt", self._post_prompt)
            app.router.add_get(prefix + "/prompt", self._get_prompt)
            app.router.add_get(prefix + "/queue", self._get_queue)
            app.router.add_post(prefix + "/queue", self._post_queue)
            app.router.add_get(prefix + "/history", self._get_history)
            app.router.add_get(prefix + "/history/{prompt_id}", self._get_history_one)
            app.router.add_post(prefix + "/history", self._post_history)
            app.router.add_post(prefix + "/interrupt", self._interrupt)
            app.router.add_post(prefix + "/free", self._empty)
            app.router.add_get(prefix + "/system_stats", self._system_stats)
            app.router.add_get(prefix + "/features", self._features)
            app.router.add_get(prefix + "/object_info", self._object_info)
            app.router.add_get(prefix + "/object_info/{node_class}", self._object_info_one)
            app.router.add_get(prefix + "/view", self._view)
            app.router.add_post(prefix + "/upload/image", self._upload)
        self._runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._worker = asyncio.create_task(self._work())
        return self

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        for conn in list(self.conns):
            await conn.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def restart(self) -> None:
        """Like a ComfyUI restart: sockets close, the queue, the running prompt and history are forgotten."""
        await self.stop()
        self._reset()
        await self.start()

    # ---- scripting -------------------------------------------------------------------------------------

    def hold(self) -> None:
        """Sampler steps wait until `release()`."""
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def notify(self) -> None:
        self._pulse.set()
        self._pulse = asyncio.Event()

    async def until(self, predicate: Callable[[], Any], within: float = 10.0) -> None:
        """Wait until the fake's state satisfies `predicate` (checked at every change)."""
        async with asyncio.timeout(within):
            while not predicate():
                await self._pulse.wait()

    async def drop_sockets(self) -> None:
        """Cut every WebSocket connection abruptly, as a network failure would."""
        for conn in list(self.conns):
            if conn.transport is not None:
                conn.transport.abort()  # type: ignore[attr-defined]

    def fail_next(
        self,
        method: str,
        path: str,
        kind: str,
        *,
        times: int = 1,
        delay: float = 0.0,
        gate: asyncio.Event | None = None,
        size: int = 0,
        body: Any = None,
    ) -> None:
        self.faults.append(Fault(method, path, kind, times, delay, gate=gate, size=size, body=body))

    def answer_next(self, method: str, path: str, status: int, body: Any) -> None:
        self.faults.append(Fault(method, path, "canned", status=status, body=body))

    async def inject_huge_frame(self, size: int) -> None:
        """A hostile server's frame of `size` bytes to every registered socket, streamed."""
        for conn in list(self.sockets.values()):
            await comfy_hostile.huge_frame(conn.transport, size)

    async def inject(self, payload: str | bytes) -> None:
        """Send a raw frame to every registered socket (extension messages, garbage)."""
        for conn in list(self.sockets.values()):
            await self._send(conn, payload)

    # ---- sending ---------------------------------------------------------------------------------------

    async def _send(self, conn: Conn, payload: str | bytes) -> None:
        try:
            if isinstance(payload, str):
                await conn.ws.send_str(payload)
            else:
                await conn.ws.send_bytes(payload)
            conn.frames_sent += 1
        except (ConnectionError, RuntimeError):
            pass  # a socket going away mid-send: the real server ignores it too

    async def broadcast(self, kind: str, data: Json) -> None:
        text = json.dumps({"type": kind, "data": data})
        for conn in list(self.sockets.values()):
            await self._send(conn, text)

    async def broadcast_status(self) -> None:
        remaining = len(self.pending) + (1 if self.running else 0)
        await self.broadcast("status", {"status": {"exec_info": {"queue_remaining": remaining}}})

    async def send_to_client(self, kind: str, data: Json, sid: str | None) -> None:
        """Per-client events go to the newest socket of the prompt's client id, and nowhere without one."""
        conn = self.sockets.get(sid) if sid else None
        if conn is not None:
            await self._send(conn, json.dumps({"type": kind, "data": data}))

    def _targets(self, item: QueueItem) -> list[Conn]:
        """Progress and previews: the client's socket, or every socket when the prompt has no client id."""
        if item.client_id is None:
            return list(self.sockets.values())
        conn = self.sockets.get(item.client_id)
        return [conn] if conn else []

    async def send_progress(self, kind: str, data: Json, item: QueueItem) -> None:
        text = json.dumps({"type": kind, "data": data})
        for conn in self._targets(item):
            await self._send(conn, text)

    async def send_step(self, item: QueueItem, node_id: str, step: int, steps: int) -> None:
        progress = json.dumps(
            {"type": "progress", "data": {"value": step, "max": steps, "prompt_id": item.prompt_id, "node": node_id}}
        )
        for conn in self._targets(item):
            if conn.negotiated:  # type 4 comes before its progress message
                meta = json.dumps(
                    {
                        "node_id": node_id,
                        "prompt_id": item.prompt_id,
                        "display_node_id": node_id,
                        "parent_node_id": None,
                        "real_node_id": node_id,
                        "image_type": "image/jpeg",
                    }
                ).encode()
                await self._send(conn, struct.pack(">II", 4, len(meta)) + meta + self.preview)
                await self._send(conn, progress)
            else:  # type 1 comes after it
                await self._send(conn, progress)
                await self._send(conn, struct.pack(">II", 1, 1) + self.preview)

    async def send_text_frame(self, node_id: str, text: str) -> None:
        node = node_id.encode()
        frame = struct.pack(">II", 3, len(node)) + node + text.encode()
        for conn in list(self.sockets.values()):
            await self._send(conn, frame)

    # ---- the worker ------------------------------------------------------------------------------------

    async def _work(self) -> None:
        while True:
            while not self.pending:
                pulse = self._pulse
                await pulse.wait()
            item = heapq.heappop(self.pending)
            self.started_at[item.prompt_id] = time.monotonic()
            self.running = item
            self.interrupt_requested = False
            await self.executor.run(item)

    async def before_step(self) -> None:
        await self._gate.wait()
        if self.step_delay:
            await asyncio.sleep(self.step_delay)
        self.check_interrupt()

    def check_interrupt(self) -> None:
        if self.interrupt_requested:
            self.interrupt_requested = False
            raise Interrupted

    def write_history(self, item: QueueItem, run: RunState, status: str, *, completed: bool) -> None:
        self.history[item.prompt_id] = {
            "prompt": item.wire(),
            "outputs": run.outputs,
            "status": {"status_str": status, "completed": completed, "messages": run.messages},
            "meta": {
                node: {"node_id": node, "display_node": node, "parent_node": None, "real_node_id": node}
                for node in run.outputs
            },
        }
        self.notify()

    # ---- HTTP ------------------------------------------------------------------------------------------

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = (
            await request.read() if request.method == "POST" and request.content_type != "multipart/form-data" else b""
        )
        self.requests.append((request.method, request.path, body))
        self.headers_seen.append(dict(request.headers))
        self.notify()
        fault = next((f for f in self.faults if f.method == request.method and f.path == request.path), None)
        if fault is None:
            return await handler(request)
        fault.times -= 1
        if fault.times <= 0:
            self.faults.remove(fault)
        if fault.kind == "500":
            return web.Response(status=500, text=TROUBLE)
        if fault.kind == "garbage":
            return web.Response(status=200, body=b"\x00\x13<html>not json", content_type="application/json")
        if fault.kind == "canned":
            return self._json(fault.body, fault.status)
        if fault.kind == "redirect":  # (a hostile or misconfigured proxy in front of it)
            return web.Response(status=302, headers={"Location": str(fault.body)})
        if fault.kind == "huge":
            return await comfy_hostile.huge(request, fault.size)
        if fault.kind == "endless":
            return await comfy_hostile.endless(request)
        if fault.kind == "trickle":
            return await comfy_hostile.trickle(request, await handler(request), fault.delay)
        if fault.kind == "steady":
            return await comfy_hostile.steady(request, fault.size, fault.delay)
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            return await handler(request)
        if fault.kind == "gated" and fault.gate is not None:
            await fault.gate.wait()
            return await handler(request)
        if fault.kind == "lost":
            await handler(request)
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError  # nothing is answered

    def _json(self, data: Any, status: int = 200) -> web.Response:
        return web.json_response(data, status=status)

    async def _empty(self, request: web.Request) -> web.Response:
        return web.Response()

    async def _post_prompt(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return web.Response(status=500, text=TROUBLE)
        if not isinstance(body, dict) or "prompt" not in body:
            error = {"type": "no_prompt", "message": "No prompt provided", "details": "No prompt provided"}
            return self._json({"error": {**error, "extra_info": {}}, "node_errors": {}}, 400)
        number = self.number
        self.number += 1
        inputs = {name for (kind, sub, name) in self.files if kind == "input" and not sub} | {
            f"{sub}/{name}" for (kind, sub, name) in self.files if kind == "input" and sub
        }
        result = PromptValidator(self.object_info, inputs).validate(body["prompt"])
        if isinstance(result, Rejected):
            return self._json(result.body, 400)
        prompt_id = body.get("prompt_id") or str(uuid.uuid4())
        extra = dict(body.get("extra_data") or {})
        if body.get("client_id"):
            extra["client_id"] = body["client_id"]
        # ComfyUI's post_prompt takes these out of extra_data before queuing (execution.SENSITIVE_EXTRA_DATA_KEYS):
        # they reach the nodes, never /queue nor /history
        sensitive = {k: extra.pop(k) for k in ("auth_token_comfy_org", "api_key_comfy_org") if k in extra}
        self.sensitive_seen.append(sensitive)
        if body.get("front"):
            number = -number
        item = QueueItem(number, prompt_id, body["prompt"], extra, result.outputs, sensitive)
        heapq.heappush(self.pending, item)
        await self.broadcast_status()
        self.notify()
        return self._json({"prompt_id": prompt_id, "number": number, "node_errors": result.node_errors})

    async def _get_prompt(self, request: web.Request) -> web.Response:
        remaining = len(self.pending) + (1 if self.running else 0)
        return self._json({"exec_info": {"queue_remaining": remaining}})

    async def _get_queue(self, request: web.Request) -> web.Response:
        running = [self.running.wire()] if self.running else []
        return self._json({"queue_running": running, "queue_pending": [item.wire() for item in self.pending]})

    async def _post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self.pending.clear()
        for prompt_id in body.get("delete") or ():
            self.pending = [item for item in self.pending if item.prompt_id != prompt_id]
            heapq.heapify(self.pending)
        await self.broadcast_status()
        return web.Response()

    async def _get_history(self, request: web.Request) -> web.Response:
        items = list(self.history.items())
        max_items = request.query.get("max_items")
        offset = request.query.get("offset")
        if max_items is not None:
            count = int(max_items)
            items = items[int(offset) : int(offset) + count] if offset is not None else items[-count:]
        return self._json(dict(items))

    async def _get_history_one(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self.history.get(prompt_id)
        return self._json({prompt_id: entry} if entry is not None else {})

    async def _post_history(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self.history.clear()
        for prompt_id in body.get("delete") or ():
            self.history.pop(prompt_id, None)
        return web.Response()

    async def _interrupt(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw) if raw else {}
        wanted = body.get("prompt_id") if isinstance(body, dict) else None
        if self.running is not None and (wanted is None or wanted == self.running.prompt_id):
            self.interrupt_requested = True
        return web.Response()

    async def _system_stats(self, request: web.Request) -> web.Response:
        return self._json(json.loads((FIXTURES / "system_stats.json").read_text()))

    async def _features(self, request: web.Request) -> web.Response:
        return self._json({"supports_preview_metadata": True, "max_upload_size": 104857600})

    async def _object_info(self, request: web.Request) -> web.Response:
        return self._json(self.object_info)

    async def _object_info_one(self, request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        return self._json({name: self.object_info[name]} if name in self.object_info else {})

    async def _view(self, request: web.Request) -> web.Response:
        query = request.query
        filename = query.get("filename")
        if not filename:
            return web.Response(status=404)
        kind = query.get("type", "output")
        hostile = filename in self.served_hostile
        if kind not in ("output", "input", "temp") or (not hostile and (filename.startswith("/") or ".." in filename)):
            return web.Response(status=400)
        subfolder = query.get("subfolder", "")
        if ".." in subfolder.split("/") or subfolder.startswith("/"):
            return web.Response(status=403)
        data = self.files.get((kind, subfolder, filename))
        if data is None:
            return web.Response(status=404)
        headers = {"Content-Disposition": f'filename="{filename}"'}
        kind = VIEW_TYPES.get(Path(filename).suffix.lower(), "image/png")  # as recorded: video/mp4, audio/flac...
        return web.Response(body=data, content_type=kind, headers=headers)

    async def _upload(self, request: web.Request) -> web.Response:
        fields: Json = {}
        async for part in await request.multipart():
            fields[part.name or ""] = (part.filename, await part.read())  # type: ignore[union-attr]
        if "image" not in fields:
            return web.Response(status=400)
        filename, data = fields["image"]
        kind = fields.get("type", (None, b"input"))[1].decode() or "input"
        subfolder = fields.get("subfolder", (None, b""))[1].decode()
        overwrite = fields.get("overwrite", (None, b""))[1].decode().lower() in ("true", "1")
        if ".." in subfolder.split("/") or subfolder.startswith("/") or kind not in ("input", "temp", "output"):
            return web.Response(status=400)
        stem, dot, ext = filename.rpartition(".")
        stem, ext = (stem, dot + ext) if dot else (filename, "")
        name, n = filename, 1
        while not overwrite and (kind, subfolder, name) in self.files and self.files[(kind, subfolder, name)] != data:
            name, n = f"{stem} ({n}){ext}", n + 1
        self.files[(kind, subfolder, name)] = data
        return self._json({"name": name, "subfolder": subfolder, "type": kind})

    # ---- WebSocket -------------------------------------------------------------------------------------

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_ws:
            return web.Response(status=503)
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        self.client_ids_seen.append(sid)
        conn = Conn(ws, sid, request.transport)
        self.sockets[sid] = conn  # the newest socket of a client id gets its events
        self.conns.append(conn)
        self.ws_connects += 1
        remaining = len(self.pending) + (1 if self.running else 0)
        await self._send(
            conn,
            json.dumps(
                {"type": "status", "data": {"status": {"exec_info": {"queue_remaining": remaining}}, "sid": sid}}
            ),
        )
        if self.running is not None and self.running.client_id == sid and self.executor.current_node:
            await self._send(conn, json.dumps({"type": "executing", "data": {"node": self.executor.current_node}}))
        self.notify()
        first = True
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT and first and self.supports_preview_metadata:
                    data = json.loads(message.data)
                    if data.get("type") == "feature_flags":
                        conn.negotiated = bool(data.get("data", {}).get("supports_preview_metadata"))
                        self.notify()
                        await self._send(
                            conn,
                            json.dumps(
                                {
                                    "type": "feature_flags",
                                    "data": {"supports_preview_metadata": True, "max_upload_size": 104857600},
                                }
                            ),
                        )
                first = False
        finally:
            # The real server forgets the id here even when a newer socket holds it (recorded in h, part 2b).
            self.sockets.pop(sid, None)
            self.conns.remove(conn)
            self.notify()
        return ws


async def _serve_demo(port: int) -> None:
    """A fake ComfyUI for trying the bot without a GPU: the shipped workflows run on it (it paints a pattern
    instead of a picture, a step every 0.2 s, so the progress bar moves), until Ctrl-C."""
    demo = await FakeComfy(step_delay=0.2, port=port).start()
    names: list[str] = demo.object_info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    names.append("v1-5-pruned-emaonly.safetensors")  # the checkpoint the shipped workflows name
    print(f"A fake ComfyUI (no GPU, no models) listens on {demo.base_url}; Ctrl-C stops it.", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await demo.stop()


if __name__ == "__main__":  # python -m tests.fakes.comfy_server [PORT]: see _serve_demo
    import contextlib
    import sys

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_demo(int(sys.argv[1]) if len(sys.argv) > 1 else 8188))
