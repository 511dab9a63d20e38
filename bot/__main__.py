"""Composition root: Settings -> ComfyUI clients -> (engine and Discord bot, as they are built).

`python -m bot` validates the configuration and reaches every ComfyUI backend. The Discord front end, the job
engine and the database are wired in here as they land; nothing else builds objects.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aiohttp

from .comfy.client import ComfyClient
from .comfy.errors import ComfyError
from .logs import configure_logging
from .settings import BackendSettings, ConfigError, Settings, load_settings, templates_folder
from .templates.library import TemplateLibrary
from .templates.listing import describe_library


def make_client(session: aiohttp.ClientSession, backend: BackendSettings, settings: Settings) -> ComfyClient:
    headers = {}
    if backend.auth_value is not None:
        headers[backend.auth_header] = backend.auth_value.get_secret_value()
    return ComfyClient(
        session,
        backend.url,
        headers=headers,
        timeout=settings.comfy.request_timeout,
        retries=settings.comfy.retries,
    )


async def probe_backends(settings: Settings) -> bool:
    """One line per backend: reachable, version, devices. True when every backend answered."""
    healthy = True
    async with aiohttp.ClientSession() as session:
        for backend in settings.comfy.backends:
            client = make_client(session, backend, settings)
            try:
                stats = await client.system_stats()
                nodes = await client.object_info()
            except ComfyError as exc:
                healthy = False
                print(f"[fail] {backend.display_name}: {exc}")
                continue
            devices = ", ".join(f"{d.name} ({d.vram_free // 2**20} MiB free)" for d in stats.devices) or "none"
            print(f"[ok]   {backend.display_name}: ComfyUI {stats.comfyui_version}, {len(nodes)} node types, {devices}")
    return healthy


def list_templates() -> int:
    """`python -m bot templates`: every template with its parameters, targets and warnings."""
    library = TemplateLibrary(templates_folder())
    report = library.reload()
    print(describe_library(library, report))
    return 1 if report.errors else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="A Discord bot that drives ComfyUI.")
    parser.add_argument(
        "command",
        nargs="?",
        default="check",
        choices=["check", "templates"],
        help="check: validate the settings and reach each backend (default); templates: list the workflow templates",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "templates":
            return list_templates()
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.logging.level, settings.logging.format)
    healthy = asyncio.run(probe_backends(settings))
    print("Configuration is valid." + ("" if healthy else " Some ComfyUI backends could not be reached."))
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
