"""The oracle for "converted as ComfyUI does": ComfyUI's own frontend, run in Debian's headless Chromium, turns each
official UI-format template into the prompt it would queue (`app.graphToPrompt()`), and those prompts are recorded
as test data (`tests/fixtures/frontend_prompts.json.gz`) that `tests/templates/test_frontend_oracle.py` holds the
bot's conversion to.

A tool, not a CI step. It serves the built frontend (the `comfyui-frontend-package` wheel, 1.27.10) with a small
stand-in for the ComfyUI server behind it (`/api/object_info` answers the recorded node catalogue of ComfyUI 0.3.64;
the other routes the frontend reads at start answer as an empty single-user server does), on 127.0.0.1 only, and
drives the page over the Chrome DevTools protocol. The templates are those of `comfyui-workflow-templates` 0.1.95
whose node types the catalogue has (the frontend's own nodes aside).

    pip download --no-deps comfyui-frontend-package==1.27.10 comfyui-workflow-templates==0.1.95 -d /tmp/wheels
    (unzip each wheel; then)
    .venv/bin/python -m bench.frontend_oracle --frontend DIR/comfyui_frontend_package/static \\
        --templates DIR/comfyui_workflow_templates/templates --catalogue object_info-0.3.64.json.gz

Chromium comes from Debian (`apt-get install chromium`), never a browser a tool downloads; it is started with the
flags that keep it off the network (no background networking, no component updates).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.official_templates import node_types

RECORDINGS = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "frontend_prompts.json.gz"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--remote-debugging-port=0",
)
EMPTY: dict[str, Any] = {  # what an empty single-user ComfyUI answers to the reads the frontend makes at start
    "/api/users": {"storage": "server", "migrated": True},
    "/api/settings": {"Comfy.TutorialCompleted": True, "Comfy.Validation.Workflows": False},
    "/api/extensions": [],
    "/api/embeddings": [],
    "/api/i18n": {},
    "/api/features": {},
    "/api/queue": {"queue_running": [], "queue_pending": []},
    "/api/history": {},
    "/api/prompt": {"exec_info": {"queue_remaining": 0}},
    "/api/workflow_templates": {},
    "/api/experiment/models": [],
    "/templates/index.json": [],
    "/api/system_stats": {
        "system": {
            "os": "posix",
            "ram_total": 1,
            "ram_free": 1,
            "comfyui_version": "0.3.64",
            "required_frontend_version": "1.27.10",
            "python_version": "3.11",
            "pytorch_version": "2",
            "embedded_python": False,
            "argv": ["main.py"],
        },
        "devices": [],
    },
}


def server(static: Path, catalogue: dict[str, Any], unknown: set[str]) -> web.Application:
    async def api(request: web.Request) -> web.StreamResponse:
        path = request.path if request.path.startswith(("/api/", "/templates/")) else "/api" + request.path
        if path == "/api/object_info":
            return web.json_response(catalogue)
        if path.startswith("/api/settings/") and request.method == "POST":
            return web.json_response({})
        if path in EMPTY:
            return web.json_response(EMPTY[path])
        if path.startswith("/api/userdata"):
            return web.json_response([]) if request.query.get("dir") else web.Response(status=404)
        unknown.add(f"{request.method} {path}")
        return web.Response(status=404)

    async def socket(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "x"}})
        async for _ in ws:
            pass
        return ws

    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(static / "index.html")

    app = web.Application()
    app.router.add_get("/ws", socket)
    app.router.add_get("/api/ws", socket)
    app.router.add_get("/", page)
    for prefix in ("/api/", "/templates/"):
        app.router.add_route("*", prefix + "{tail:.*}", api)
    for name in ("object_info", "system_stats", "users", "settings", "extensions", "embeddings", "prompt", "queue"):
        app.router.add_route("*", "/" + name, api)
    app.router.add_static("/", static)
    return app


class Page:
    """One Chromium tab, driven over the DevTools protocol."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws, self.next_id = ws, 0

    async def call(self, method: str, **params: Any) -> Any:
        self.next_id += 1
        await self.ws.send_json({"id": self.next_id, "method": method, "params": params})
        async for message in self.ws:
            data = json.loads(message.data)
            if data.get("id") == self.next_id:
                if "error" in data:
                    raise RuntimeError(f"{method}: {data['error']}")
                return data["result"]
        raise RuntimeError("the browser went away")

    async def evaluate(self, script: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=script, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(json.dumps(result["exceptionDetails"])[:2000])
        return result["result"].get("value")


async def browser(url: str, profile: Path) -> tuple[asyncio.subprocess.Process, str]:
    """Chromium started headless on `url`; its DevTools endpoint for the page."""
    process = await asyncio.create_subprocess_exec(
        shutil.which("chromium") or "/usr/bin/chromium",
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        url,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    port_file = profile / "DevToolsActivePort"
    async with asyncio.timeout(30):
        while not port_file.exists() or not port_file.read_text().strip():  # noqa: ASYNC110 - a file, no event
            await asyncio.sleep(0.1)  # Chromium writes the file when it listens
    port = port_file.read_text().split()[0]
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/json") as answer:
        targets = await answer.json()
    [target] = [t for t in targets if t.get("type") == "page"]
    return process, str(target["webSocketDebuggerUrl"])


BOOTED = "!!(window.comfyAPI?.app?.app?.graph ?? window.app?.graph)"
CONVERT = """(async () => {
  const app = window.comfyAPI?.app?.app ?? window.app;
  const graph = %s;
  await app.loadGraphData(graph, true, false, null, {showMissingNodesDialog: false, showMissingModelsDialog: false});
  const made = await app.graphToPrompt();
  return JSON.stringify(made.output);
})()"""


def eligible(templates: Path, catalogue: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(templates.glob("*.json")):
        if path.name.startswith("index"):
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "nodes" in data and node_types(data) <= set(catalogue):
            found[path.stem] = data
    return found


async def record(static: Path, templates: Path, catalogue: dict[str, Any], out: Path) -> None:
    unknown: set[str] = set()
    runner = web.AppRunner(server(static, catalogue, unknown))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    chosen = eligible(templates, catalogue)
    print(f"{len(chosen)} templates use only node types the catalogue has")
    recorded: dict[str, Any] = {}
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as profile:
        process, endpoint = await browser(f"http://127.0.0.1:{port}/", Path(profile))
        try:
            async with aiohttp.ClientSession() as session, session.ws_connect(endpoint, max_msg_size=0) as ws:
                page = Page(ws)
                await page.call("Runtime.enable")
                async with asyncio.timeout(60):
                    while not await page.evaluate(BOOTED):  # noqa: ASYNC110 - polled in the page
                        await asyncio.sleep(0.5)  # the frontend boots
                for name, data in chosen.items():
                    try:
                        recorded[name] = json.loads(await page.evaluate(CONVERT % json.dumps(data)))
                    except RuntimeError as exc:
                        failed[name] = str(exc)[:300]
        finally:
            process.terminate()
            await process.wait()
            await runner.cleanup()
    out.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "frontend": "comfyui-frontend-package 1.27.10",
        "templates": "comfyui-workflow-templates 0.1.95",
        "catalogue": "ComfyUI 0.3.64 /object_info",
        "prompts": recorded,
    }
    with gzip.open(out, "wt", encoding="utf-8") as file:
        json.dump(body, file, sort_keys=True)
    print(f"recorded {len(recorded)}, failed {len(failed)}: {failed}")
    if unknown:
        print("routes the stand-in did not know (answered 404):", ", ".join(sorted(unknown)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frontend", type=Path, required=True, help="comfyui_frontend_package/static")
    parser.add_argument("--templates", type=Path, required=True, help="comfyui_workflow_templates/templates")
    parser.add_argument("--catalogue", type=Path, required=True, help="the recorded /object_info (.json.gz)")
    parser.add_argument("--out", type=Path, default=RECORDINGS)
    args = parser.parse_args()
    with gzip.open(args.catalogue, "rt", encoding="utf-8") as file:
        catalogue = json.load(file)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(record(args.frontend, args.templates, catalogue, args.out))


if __name__ == "__main__":
    main()
