"""Workflow files a careless admin (or an attacker with access to `workflows/`) drops in: a loop of links, JSON
nested past any workflow, a number JSON does not allow, a manifest saved in Latin-1. Each is refused with its
reason, the others load, and the bot, as its own process, starts, serves and stops as usual."""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from bot.templates import library as library_module
from tests.cli import ROOT, nowhere, run_cli
from tests.discord_helpers import answer, final, imagine
from tests.fakes.discord_api import USER_ID, FakeDiscord
from tests.hostile_workflows import CASES
from tests.processes import BotProcess, stopped
from tests.stack import Stack, process_environment, shipped_comfy, with_workflows

CYCLE = {
    "1": {"class_type": "KSampler", "inputs": {"model": ["2", 0]}},
    "2": {"class_type": "LoraLoader", "inputs": {"model": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}},
}
INFINITE = '{"nodes": [{"id": 1, "type": "SaveImage", "inputs": [{"name": "images", "link": Infinity}]}], "links": []}'
REFUSED = {
    "cycle.json": "cycle.json: its links go round in a loop (1 -> 2); ComfyUI cannot run it",
    "deep.json": "deep.json: nests its values deeper than 64 levels; no workflow does",
    "infinite.json": "infinite.json: broken JSON: Infinity is not a number JSON allows",
    "latin.json": "latin.toml: cannot be read as UTF-8 text",
}


def hostile(folder: Path) -> Path:
    """The shipped workflows, and one bad file of each kind beside them."""
    workflows = with_workflows(folder) / "workflows"
    (workflows / "cycle.json").write_text(json.dumps(CYCLE))
    (workflows / "deep.json").write_text("[" * 200_000 + "]" * 200_000)
    (workflows / "infinite.json").write_text(INFINITE)
    (workflows / "latin.json").write_text((workflows / "quick.json").read_text())
    (workflows / "latin.toml").write_bytes('name = "Café"\n'.encode("latin-1"))
    return workflows


async def test_each_bad_workflow_is_refused_with_its_reason_and_the_others_load(tmp_path: Path) -> None:
    workflows = hostile(tmp_path)
    env = {"TEMPLATES__DIR": str(workflows), "COMFY__BACKENDS": nowhere(), "DISCORD__TOKEN": "t"}
    code, out, err = await run_cli("templates", env=env, cwd=tmp_path)
    assert code == 1 and "Traceback" not in err, err  # refusals make it exit non-zero
    for reason in REFUSED.values():
        assert reason in out
    assert out.startswith("img2img:") and "\ntxt2img:" in out


async def test_the_bot_starts_serves_and_stops_beside_bad_workflows(tmp_path: Path) -> None:
    comfy = await shipped_comfy()
    discord = await FakeDiscord(window=1.0).start()
    hostile(tmp_path)
    bot = None
    try:
        bot = await BotProcess.start(process_environment(tmp_path, [comfy], discord))
        await discord.until(lambda: bool(discord.gateways), within=30)
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked), within=30)
        bot.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(bot.process.wait(), 20)
    finally:
        await stopped([bot], discord, comfy)
    assert discord.original(asked).embeds[0]["title"] == "Done"
    assert code == 0 and not any("Traceback" in line for line in bot.lines), "".join(bot.lines)


@pytest.mark.parametrize("command", [(), ("check",)])
async def test_a_postgresql_password_with_a_slash_is_refused_without_showing_any_of_it(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    """`postgresql://bot:se/cret@host/db` used to be read as host `bot` and path `/cret@host/db`: `check` and the
    start printed `cret`. It is refused when the settings are read, naming the variable and not the URL."""
    with_workflows(tmp_path)
    env = {"DISCORD__TOKEN": "t", "DATABASE__URL": "postgresql://bot:se/cret@127.0.0.1:5432/bot"}
    code, out, err = await asyncio.wait_for(run_cli(*command, env=env, cwd=tmp_path), 30)
    assert code == 2 and "DATABASE__URL" in err and "%2F" in err and "Traceback" not in err, err
    assert "cret" not in err + out and len(err.strip().splitlines()) <= 2, err


async def test_a_port_typo_is_refused_in_one_line_and_a_fault_at_start_ends_the_process(tmp_path: Path) -> None:
    """`http://127.0.0.1:81880` used to pass the settings and hang the process after the database opened (its
    thread kept it alive, SIGTERM ignored). Now the setting is refused, naming the variable, never the password."""
    with_workflows(tmp_path)
    env = {"DISCORD__TOKEN": "t", "DATABASE__PATH": str(tmp_path / "db.sqlite3")}
    for url in ("http://127.0.0.1:81880", "http://bot:se/cret@127.0.0.1:8188"):
        code, out, err = await asyncio.wait_for(run_cli(env=env | {"COMFY__BACKENDS": url}, cwd=tmp_path), 30)
        assert code == 2 and "COMFY__BACKENDS" in err and "Traceback" not in err, err
        assert "cret" not in err + out and len(err.strip().splitlines()) <= 2, err


WITHIN_SECONDS = 20  # each case's bound, for a loaded CI machine: each takes under 0.5 s here (bench/hostile_corpus.py)
MEMORY_CAP = 2 * 2**30  # the address space the loading process may take: a file that needs more is a failure


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.mark.parametrize(("name", "expected"), [(name, expected) for name, _, expected in CASES])
async def test_each_hostile_workflow_is_loaded_or_refused_within_its_bound(name: str, expected: str) -> None:
    """A few KB that fan out by levels, nest subgraphs two by two, or chain thousands of bypassed nodes used to
    take minutes or gigabytes (and a chain, a RecursionError). Each is now loaded or refused with its reason, in a
    process capped at 2 GiB of address space, within the bound."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.hostile_workflows",
        name,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        preexec_fn=_capped,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), WITHIN_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()[-2000:]
    found = json.loads(out)
    assert found["loaded"] is (expected == "loads"), found
    assert (found["error"] == "") is (expected == "loads") and "Error)" not in found["error"], found


async def test_reading_the_workflows_again_leaves_members_answered_meanwhile(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/workflows reload` (and a server's new node definitions) used to read and convert every file on the event
    loop: a file that took 20 s left members' commands unanswered for 20 s. Reading now happens in a worker
    thread; here it is held until a member's /queue has been answered, which it could not be before."""
    discord = stack.discord
    reading, member_answered = threading.Event(), threading.Event()
    load = library_module.load_template

    def slow_load(*args: Any, **kwargs: Any) -> Any:
        reading.set()
        member_answered.wait(WITHIN_SECONDS)  # the loop, were it here, could answer nobody meanwhile
        return load(*args, **kwargs)

    async with stack.start(operator_ids=[USER_ID]):
        monkeypatch.setattr(library_module, "load_template", slow_load)
        reloading = await discord.interact("workflows", [{"name": "reload", "type": 5, "value": True}])
        assert await asyncio.to_thread(reading.wait, WITHIN_SECONDS)
        queued = await discord.interact("queue", user_id=USER_ID + 1)
        await discord.until(lambda: queued.message_id in discord.messages)
        answered_while_reading = not member_answered.is_set()
        member_answered.set()
        reloaded = await answer(discord, reloading)
    assert answered_while_reading
    assert "txt2img: Text to image (manifest)" in reloaded, reloaded


async def test_a_fault_after_the_database_opens_ends_the_process_and_closes_the_database(tmp_path: Path) -> None:
    """Any exception after the database opened used to leave the process hanging (the database's thread kept
    it alive, SIGTERM ignored), so a supervisor never restarted it. A fault injected there (reading the
    workflows raises) ends the process with status 1, and the database is closed: the next start takes it."""
    comfy = await shipped_comfy()
    discord = await FakeDiscord(window=1.0).start()
    faulty = tmp_path / "fault"
    faulty.mkdir()
    (faulty / "sitecustomize.py").write_text(
        "from bot.templates.library import TemplateLibrary\n"
        "def broken(self):\n"
        "    raise RuntimeError('an injected fault')\n"
        "TemplateLibrary.reload = broken\n"
    )
    env = process_environment(with_workflows(tmp_path), [comfy], discord)
    bot = again = None
    try:
        bot = await BotProcess.start(env | {"PYTHONPATH": f"{faulty}{os.pathsep}{env['PYTHONPATH']}"})
        code = await asyncio.wait_for(bot.process.wait(), WITHIN_SECONDS)
        again = await BotProcess.start(env)  # the same database: its lock was released
        await discord.until(lambda: bool(discord.gateways), within=30)
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked), within=30)
    finally:
        await stopped([p for p in (bot, again) if p is not None], discord, comfy)
    assert code == 1 and any("an injected fault" in line for line in bot.lines), "".join(bot.lines)
    assert discord.original(asked).embeds[0]["title"] == "Done"
