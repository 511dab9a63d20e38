"""Commands for the person running the bot: `check` (is everything set up?), `invite` (the link that adds the
bot to a server) and `run` (try a workflow without Discord). They print for people and exit non-zero on any
problem. What they use (the store, the templates, ComfyUI clients and backends) the composition root builds,
as for the bot itself, and hands over as `Parts`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from ..comfy.backend import ComfyBackend
from ..comfy.client import ComfyClient
from ..comfy.errors import ComfyError, PromptRejected
from ..comfy.events import Executing, Progress
from ..comfy.models import NodeInfo, SystemStats
from ..comfy.run import PromptRun, RunFailed, RunInterrupted, RunLost, RunSucceeded
from ..i18n import Text
from ..jobs.store import JobStore, StoreError, records
from ..jobs.store.copy import copy_database as copy_database_rows
from ..jobs.store.lease import DispatcherLease
from ..permissions import invite_url
from ..process import event_loop
from ..settings import ConfigError, DiscordSettings, Settings, load_settings, templates_folder
from ..settings.comfy import BackendSettings
from ..settings.urls import shown as shown_url
from ..templates.catalog import catalog_of
from ..templates.errors import TemplateError, UnusableTemplate
from ..templates.library import NO_SERVER_YET, TemplateLibrary
from ..templates.listing import describe_library
from ..templates.params import ImageData
from ..templates.template import Template
from ..templates.validate import validate_template
from .discord_rest import DiscordRest, DiscordRestError


@dataclass(frozen=True)
class Parts:
    """The composition root's builders, for commands that run without the bot."""

    open_store: Callable[[], Awaitable[JobStore]]
    store_at: Callable[[str | None], Awaitable[JobStore]]  # the SQLite file (None), or the database at a URL
    library: Callable[[], TemplateLibrary]
    backend: Callable[[aiohttp.ClientSession, BackendSettings, str], ComfyBackend]  # session, server, client id


async def check(
    settings: Settings, parts: Parts, out: TextIO = sys.stdout, *, without_discord: str | None = None
) -> int:
    """One report: the database, each backend, every template against each backend, then Discord (skipped, and
    said why, `without_discord`, when there is no usable token). The count of problems."""
    problems: list[str] = []

    def say(ok: bool, line: str) -> None:
        out.write(f"[{'ok' if ok else 'fail'}]{' ' * (3 if ok else 1)}{line}\n")
        if not ok:
            problems.append(line)

    say(True, f"settings: {len(settings.comfy.backends)} backend(s), templates in {settings.templates.dir}/")
    if exposed := settings.metrics.exposure():
        out.write(f"[warn] {exposed}\n")
    url = settings.database.url.get_secret_value() if settings.database.url else None
    where = shown_url(url) if url else str(settings.database.path)  # never the password
    try:
        store = await parts.open_store()
        count = await store.job_count()
        await store.close()
        say(True, f"database {where}: {count} job(s)")
        if url is not None:
            lease = DispatcherLease(url, retry=settings.database.lease_retry)
            holder = await lease.holder()
            say(True, f"dispatcher lease: {'held by ' + holder if holder else 'not held (no bot process runs)'}")
            for name, role, ago in await lease.processes():
                say(True, f"  process {name}: {role} (seen {ago:.0f} s ago)")
    except Exception as exc:  # any reason the file cannot be opened is the admin's to know
        say(False, f"database {where}: cannot be opened ({exc})")
    async with aiohttp.ClientSession() as session:
        answers: dict[str, tuple[SystemStats, dict[str, NodeInfo]] | ComfyError] = {}
        for backend in settings.comfy.backends:
            client = parts.backend(session, backend, "check").client
            try:
                answers[backend.display_name] = (await client.system_stats(), await client.object_info())
            except ComfyError as exc:
                answers[backend.display_name] = exc
        library = parts.library()
        definitions = [(name, found[1]) for name, found in answers.items() if not isinstance(found, ComfyError)]
        if definitions:  # UI-format exports are converted with the servers' node definitions
            library.catalog = catalog_of(definitions)
        report = library.reload()
        loaded = ", ".join(sorted(library.templates))
        say(bool(library.templates), f"templates: {len(library.templates)} loaded ({loaded})")
        for error in report.errors.values():
            say(False, f"template refused: {error}")
        for backend in settings.comfy.backends:
            found = answers[backend.display_name]
            if isinstance(found, ComfyError):
                say(False, f"backend {backend.display_name} ({backend.shown_url}): {found}")
                continue
            stats, nodes = found
            devices = ", ".join(f"{d.name} ({d.vram_free // 2**20} MiB free)" for d in stats.devices) or "no device"
            say(
                True,
                f"backend {backend.display_name} ({backend.shown_url}): ComfyUI {stats.comfyui_version}, "
                f"{len(nodes)} node types, {devices}",
            )
            for ok, line in templates_on(library, nodes, backend):
                say(ok, line)
        await check_discord(settings, session, say, skipped=without_discord, out=out)
    out.write(f"{len(problems)} problem(s).\n" if problems else "Everything is ready.\n")
    return len(problems)


def templates_on(
    library: TemplateLibrary, nodes: Mapping[str, NodeInfo], backend: BackendSettings
) -> list[tuple[bool, str]]:
    """Whether each template runs on this server: its nodes and values, and a Comfy.org key when it has partner
    nodes (the server's own key is never shown)."""
    lines = []
    for name in sorted(library.templates):
        validated = validate_template(library.templates[name], nodes, backend.display_name)
        problems = list(validated.problems)
        partners = partner_nodes(library.templates[name], nodes)
        if partners and backend.api_key_comfy_org is None:
            problems.append(
                f"its partner nodes ({', '.join(partners)}) need a Comfy.org API key: add api_key_comfy_org to "
                "this server in COMFY__BACKENDS"
            )
        lines.append((not problems, f"  {name} on {backend.display_name}: " + ("; ".join(problems) or "runnable")))
    return lines


def partner_nodes(template: Template, nodes: Mapping[str, NodeInfo]) -> list[str]:
    """The template's node classes that call Comfy.org's API (`api_node` in `/object_info`), sorted."""
    return sorted({n.class_type for n in template.workflow if (info := nodes.get(n.class_type)) and info.api_node})


async def check_discord(
    settings: Settings,
    session: aiohttp.ClientSession,
    say: Callable[[bool, str], None],
    *,
    skipped: str | None = None,
    out: TextIO = sys.stdout,
) -> None:
    """The token works (and whose it is), the slash commands are synced, and the bot may do what it needs in
    every text channel of its servers (bot/permissions.py's list); or, `skipped`, why Discord is not checked."""
    if skipped is not None:
        out.write(f"[skip] discord: {skipped}; set it to check the token, the commands and the permissions\n")
        return
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


async def node_definitions(settings: Settings, parts: Parts) -> list[tuple[str, dict[str, NodeInfo]]]:
    """(server, its `/object_info`) of each configured server that answers: what UI-format exports are converted
    with when the bot is not running."""
    found = []
    async with aiohttp.ClientSession() as session:
        for backend in settings.comfy.backends:
            with contextlib.suppress(ComfyError):
                found.append(
                    (backend.display_name, await parts.backend(session, backend, "templates").client.object_info())
                )
    return found


async def run(
    settings: Settings, parts: Parts, args: argparse.Namespace, values: dict[str, Any], out: TextIO = sys.stdout
) -> int:
    chosen = next((b for b in settings.comfy.backends if args.backend in (None, b.display_name)), None)
    if chosen is None:
        out.write(f"No backend named {args.backend!r}.\n")
        return 1
    library = parts.library()
    report = library.reload()
    if report.errors.get(f"{args.template}.json", "").endswith(NO_SERVER_YET):  # a UI-format export: convert it
        async with aiohttp.ClientSession() as session:
            with contextlib.suppress(ComfyError):
                nodes = await parts.backend(session, chosen, "run").client.object_info()
                library.use_nodes(catalog_of([(chosen.display_name, nodes)]))
    try:
        bound = library.get(args.template).bind(values)
    except UnusableTemplate as exc:  # the operator is told why, as an admin is
        out.write(f"{Text('template.refused_why', name=exc.name, reason=exc.reason)}\n")
        return 1
    except TemplateError as exc:
        out.write(f"{exc}\n")
        return 1
    async with aiohttp.ClientSession() as session:
        backend = parts.backend(session, chosen, uuid.uuid4().hex)
        client = backend.client
        backend.start()
        try:
            graph = await bound.upload_images(backend, f"cli-{uuid.uuid4().hex[:8]}") if bound.images else bound.graph
            stats = await client.system_stats()
            if stats.devices and all(d.type == "cpu" for d in stats.devices):
                out.write(f"{chosen.display_name} has no GPU (CPU only): one image may take many minutes.\n")
            prompt_id = str(uuid.uuid4())  # known before it is sent: Ctrl-C during the submission can cancel it too
            try:
                run_ = await backend.submit(graph, prompt_id=prompt_id)
                return await _follow(
                    run_, graph, bound.output_nodes, client, args, bound.values, out, settings.comfy.max_file_bytes
                )
            except asyncio.CancelledError:  # Ctrl-C: the prompt must not keep the server busy after we leave
                await asyncio.shield(_cancel(backend, prompt_id, out))
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
    max_file_bytes: int,
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
            for index, ref in enumerate(item.results(output_nodes), start=1):
                path = folder / f"{run_.prompt_id[:8]}-{index}-{ref.safe_name('result')}"  # inside the folder
                await asyncio.to_thread(path.write_bytes, await client.view(ref, max_bytes=max_file_bytes))
                out.write(f"saved {path}\n")
            for text in item.result_texts(output_nodes):  # a PreviewAny's text, shown as the bot shows it
                out.write(f"text: {text}\n")
            out.write(f"seed {values.get('seed')}\n")
            return 0
        elif isinstance(item, RunFailed | RunInterrupted | RunLost):
            out.write(f"\n{getattr(item, 'message', None) or getattr(item, 'reason', 'interrupted')}\n")
            return 1
    return 1


async def _cancel(backend: ComfyBackend, prompt_id: str, out: TextIO) -> None:
    """Take the prompt out of ComfyUI's queue, or stop it if it runs (targeted: no one else's prompt)."""
    try:
        await backend.cancel(prompt_id)
        out.write(f"\ncancelled {prompt_id} on the server\n")
    except ComfyError as exc:
        out.write(f"\ncould not cancel {prompt_id} on the server: {exc}\n")


async def copy_database(settings: Settings, parts: Parts, url: str, out: TextIO = sys.stdout) -> int:
    """`python -m bot copy-database URL`: the SQLite file's rows into the PostgreSQL database at URL."""
    try:
        source = await parts.store_at(None)
    except StoreError as exc:
        out.write(f"{exc}\n")
        return 1
    try:
        target = await parts.store_at(url)
        try:
            counts = await copy_database_rows(source, target)
        finally:
            await target.close()
    except StoreError as exc:
        out.write(f"{exc}\n")
        return 1
    finally:
        await source.close()
    copied = ", ".join(f"{count} {table}" for table, count in counts.items())
    out.write(f"copied {settings.database.path} into {shown_url(url)}: {copied}.\n")
    out.write(f"Set DATABASE__URL={shown_url(url)} (with its password) to run the bot on it.\n")
    return 0


async def export(parts: Parts, user_id: int) -> dict[str, object]:
    """`python -m bot export USER_ID`: everything kept about a member."""
    store = await parts.open_store()
    try:
        return {
            "user_id": user_id,
            "settings": await store.member_settings(user_id),
            "jobs": await records.export(store, user_id),
        }
    finally:
        await store.close()


def list_templates(parts_for: Callable[[Settings], Parts]) -> int:
    """`python -m bot templates`: every template with its parameters, targets and warnings; UI-format exports
    converted with the configured servers' node definitions when they answer."""
    library = TemplateLibrary(templates_folder())
    report = library.reload()
    if any(NO_SERVER_YET in error for error in report.errors.values()):  # UI-format exports: ask the servers
        with contextlib.suppress(ConfigError):
            settings = load_settings(discord=DiscordSettings(token="unused"))
            definitions = event_loop.run(node_definitions(settings, parts_for(settings)))
            if definitions:
                library.catalog = catalog_of(definitions)
                report = library.reload()
    print(describe_library(library, report))
    return 1 if report.errors else 0
