"""Commands for the person running the bot: `check` (is everything set up?), `invite` (the link that adds the
bot to a server) and `run` (try a workflow without Discord). They print for people and exit non-zero on any
problem."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from .comfy.backend import ComfyBackend
from .comfy.client import ComfyClient
from .comfy.errors import ComfyError, PromptRejected
from .comfy.events import Executing, Progress
from .comfy.run import PromptRun, RunFailed, RunInterrupted, RunLost, RunSucceeded
from .comfy.stream import ComfyStream
from .discord_rest import DiscordRest, DiscordRestError
from .jobs.store import SqliteJobStore
from .permissions import invite_url
from .settings import BackendSettings, Settings
from .templates.errors import TemplateError
from .templates.library import TemplateLibrary
from .templates.params import ImageData
from .templates.validate import validate_template


def make_client(session: aiohttp.ClientSession, backend: BackendSettings, settings: Settings) -> ComfyClient:
    headers = {}
    if backend.auth_value is not None:
        headers[backend.auth_header] = backend.auth_value.get_secret_value()
    return ComfyClient(
        session, backend.url, headers=headers, timeout=settings.comfy.request_timeout, retries=settings.comfy.retries
    )


async def check(settings: Settings, out: TextIO = sys.stdout) -> int:
    """One report: the database, each backend, every template against each backend. The count of problems."""
    problems: list[str] = []

    def say(ok: bool, line: str) -> None:
        out.write(f"[{'ok' if ok else 'fail'}]{' ' * (3 if ok else 1)}{line}\n")
        if not ok:
            problems.append(line)

    say(True, f"settings: {len(settings.comfy.backends)} backend(s), templates in {settings.templates.dir}/")
    try:
        store = await SqliteJobStore(settings.database.path).open()
        async with store.db.execute("SELECT COUNT(*) FROM jobs") as cursor:
            row = await cursor.fetchone()
        await store.close()
        say(True, f"database {settings.database.path}: {row[0] if row else 0} job(s)")
    except Exception as exc:  # any reason the file cannot be opened is the admin's to know
        say(False, f"database {settings.database.path}: cannot be opened ({exc})")
    library = TemplateLibrary(settings.templates.dir)
    report = library.reload()
    say(bool(library.templates), f"templates: {len(library.templates)} loaded ({', '.join(sorted(library.templates))})")
    for error in report.errors.values():
        say(False, f"template refused: {error}")
    async with aiohttp.ClientSession() as session:
        for backend in settings.comfy.backends:
            client = make_client(session, backend, settings)
            try:
                stats = await client.system_stats()
                nodes = await client.object_info()
            except ComfyError as exc:
                say(False, f"backend {backend.display_name}: {exc}")
                continue
            devices = ", ".join(f"{d.name} ({d.vram_free // 2**20} MiB free)" for d in stats.devices) or "no device"
            say(
                True,
                f"backend {backend.display_name}: ComfyUI {stats.comfyui_version}, {len(nodes)} node types, {devices}",
            )
            for name in sorted(library.templates):
                validated = validate_template(library.templates[name], nodes, backend.display_name)
                say(
                    validated.runnable,
                    f"  {name} on {backend.display_name}: "
                    + ("runnable" if validated.runnable else "; ".join(validated.problems)),
                )
        await check_discord(settings, session, say)
    out.write(f"{len(problems)} problem(s).\n" if problems else "Everything is ready.\n")
    return len(problems)


async def check_discord(settings: Settings, session: aiohttp.ClientSession, say: Callable[[bool, str], None]) -> None:
    """The token works (and whose it is), the slash commands are synced, and the bot may do what it needs in
    every text channel of its servers (bot/permissions.py's list)."""
    rest = DiscordRest(session, settings.discord.api_base, settings.discord.token.get_secret_value())
    try:
        application = await rest.application()
    except DiscordRestError as exc:
        say(False, f"discord: {exc}")
        return
    say(True, f"discord: the token is the bot {application.name} (application {application.id})")
    try:
        scopes: list[tuple[str, int | None]] = [(f"in server {g}", g) for g in settings.discord.dev_guild_ids]
        for where, guild_id in scopes or [("globally", None)]:
            names = await rest.command_names(application.id, guild_id)
            synced = "imagine" in names
            hint = "" if synced else ": not synced yet (start the bot, or run `python -m bot sync`)"
            say(synced, f"discord: {len(names)} slash command(s) synced {where}{hint}")
        reports = await rest.channel_reports(application.id)
    except DiscordRestError as exc:
        say(False, f"discord: {exc}")
        return
    for report in reports:
        if report.missing:
            say(False, f"discord: in {report.guild} #{report.channel} the bot lacks {', '.join(report.missing)}")
    servers = len({r.guild for r in reports})
    fine = sum(1 for r in reports if not r.missing)
    say(True, f"discord: the bot has what it needs in {fine} of {len(reports)} channel(s) of {servers} server(s)")


async def invite(settings: Settings, out: TextIO = sys.stdout) -> int:
    """Print the URL that adds the bot to a server with exactly the permissions it needs."""
    async with aiohttp.ClientSession() as session:
        rest = DiscordRest(session, settings.discord.api_base, settings.discord.token.get_secret_value())
        try:
            application = await rest.application()
        except DiscordRestError as exc:
            out.write(f"{exc}\n")
            return 1
    out.write(f"Open this link to add {application.name} to a server you manage:\n{invite_url(application.id)}\n")
    return 0


def parse_run_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot run", description="Run a template without Discord.")
    parser.add_argument("template")
    parser.add_argument("--prompt", help="the prompt (for templates that take one)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="any other parameter")
    parser.add_argument("--image", action="append", default=[], metavar="NAME=PATH", help="an image parameter")
    parser.add_argument("--out", default="out", help="folder for the images (default: out/)")
    parser.add_argument("--backend", help="the backend to use, by name (default: the first)")
    return parser.parse_args(argv)


def _bar(value: float, maximum: float, node: str | None, width: int = 30) -> str:
    done = int(width * value / maximum) if maximum else 0
    return f"\r[{'#' * done}{'.' * (width - done)}] {value:g}/{maximum:g} {node or ''}".ljust(60)


def run_values(args: argparse.Namespace) -> dict[str, Any]:
    """The parameters given on the command line, images read from their files."""
    values: dict[str, Any] = {}
    if args.prompt is not None:
        values["prompt"] = args.prompt
    for item in args.set:
        name, _, value = item.partition("=")
        values[name] = value
    for item in args.image:
        name, _, path = item.partition("=")
        values[name] = ImageData(Path(path).read_bytes(), Path(path).name)
    return values


async def run(settings: Settings, args: argparse.Namespace, values: dict[str, Any], out: TextIO = sys.stdout) -> int:
    library = TemplateLibrary(settings.templates.dir)
    library.reload()
    try:
        bound = library.get(args.template).bind(values)
    except TemplateError as exc:
        out.write(f"{exc}\n")
        return 1
    chosen = next((b for b in settings.comfy.backends if args.backend in (None, b.display_name)), None)
    if chosen is None:
        out.write(f"No backend named {args.backend!r}.\n")
        return 1
    async with aiohttp.ClientSession() as session:
        client = make_client(session, chosen, settings)
        backend = ComfyBackend(chosen.display_name, client, ComfyStream(client, uuid.uuid4().hex))
        backend.start()
        try:
            graph = await bound.upload_images(client, f"cli-{uuid.uuid4().hex[:8]}") if bound.images else bound.graph
            stats = await client.system_stats()
            if stats.devices and all(d.type == "cpu" for d in stats.devices):
                out.write(f"{chosen.display_name} has no GPU (CPU only): one image may take many minutes.\n")
            run_ = await backend.submit(graph)
            try:
                return await _follow(run_, graph, bound.output_nodes, client, args, bound.values, out)
            except asyncio.CancelledError:  # Ctrl-C: the prompt must not keep the server busy after we leave
                await asyncio.shield(_cancel(client, run_.prompt_id, out))
                raise
        except PromptRejected as exc:
            out.write(f"ComfyUI refused the workflow: {exc}\n")
        except ComfyError as exc:
            out.write(f"{exc}\n")
        finally:
            await backend.close()
    return 1


async def _follow(
    run_: PromptRun,
    graph: dict[str, Any],
    output_nodes: Any,
    client: ComfyClient,
    args: argparse.Namespace,
    values: Mapping[str, Any],
    out: TextIO,
) -> int:
    """Show the run's progress; save its images. The exit status."""
    node = None
    async for item in run_:
        if isinstance(item, Executing) and item.node:
            node = graph.get(item.node, {}).get("class_type")
        elif isinstance(item, Progress):
            out.write(_bar(item.value, item.max, node))
            out.flush()
        elif isinstance(item, RunSucceeded):
            folder = Path(args.out)
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            out.write("\n")
            for ref in item.results(output_nodes):
                path = folder / ref.filename
                await asyncio.to_thread(path.write_bytes, await client.view(ref))
                out.write(f"saved {path}\n")
            out.write(f"seed {values.get('seed')}\n")
            return 0
        elif isinstance(item, RunFailed | RunInterrupted | RunLost):
            out.write(f"\n{getattr(item, 'message', None) or getattr(item, 'reason', 'interrupted')}\n")
            return 1
    return 1


async def _cancel(client: ComfyClient, prompt_id: str, out: TextIO) -> None:
    """Take the prompt out of ComfyUI's queue, or stop it if it runs (targeted: no one else's prompt)."""
    try:
        await client.delete_from_queue(prompt_id)
        await client.interrupt(prompt_id)
        out.write(f"\ncancelled {prompt_id} on the server\n")
    except ComfyError as exc:
        out.write(f"\ncould not cancel {prompt_id} on the server: {exc}\n")
