"""ComfyUI's partner (API) nodes, flagged `api_node` in `/object_info`, read a Comfy.org key from the prompt's
`extra_data.api_key_comfy_org` (ComfyUI execution.py, get_input_data). A server given a key in COMFY__BACKENDS
sends it with every prompt, and the workflow runs; without one the member is told what ComfyUI says, and `check`
names the templates that need a key. The key is never shown: not in the logs, not on Discord, not in `check`."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from tests.cli import run_cli
from tests.discord_helpers import final, imagine
from tests.fakes.comfy_server import FakeComfy, full_nodes
from tests.fakes.discord_api import FakeDiscord
from tests.processes import BotProcess, stopped
from tests.stack import process_environment, shipped_comfy, with_workflows

KEY = "comfyui-0123456789abcdef"
DALLE = {
    "1": {"class_type": "OpenAIDalle3", "inputs": {"prompt": "a fox", "seed": 0, "quality": "standard"}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "dalle"}},
}
MANIFEST = """
name = "DALL-E 3 (a partner node)"
[[parameters]]
name = "prompt"
type = "text"
targets = [{ node = "1", input = "prompt" }]
"""


async def partner_setup(tmp_path: Path) -> tuple[FakeComfy, FakeDiscord, dict[str, str]]:
    comfy = await shipped_comfy()
    comfy.object_info.update(full_nodes("OpenAIDalle3"))
    discord = await FakeDiscord(window=1.0).start()
    workflows = with_workflows(tmp_path) / "workflows"
    (workflows / "dalle.json").write_text(json.dumps(DALLE))
    (workflows / "dalle.toml").write_text(MANIFEST)
    return comfy, discord, process_environment(tmp_path, [comfy], discord, LOGGING__LEVEL="DEBUG")


def with_key(env: dict[str, str], comfy: FakeComfy) -> dict[str, str]:
    return env | {"COMFY__BACKENDS": json.dumps([{"url": comfy.base_url, "name": "gpu1", "api_key_comfy_org": KEY}])}


async def test_a_partner_node_runs_with_the_servers_key_and_the_key_is_never_shown(tmp_path: Path) -> None:
    comfy, discord, env = await partner_setup(tmp_path)
    bot = None
    try:
        code, out, err = await run_cli("check", env=with_key(env, comfy), cwd=tmp_path)
        assert "[ok]     dalle on gpu1: runnable" in out and code == 1, out  # (Discord: no commands synced yet)
        bot = await BotProcess.start(with_key(env, comfy))
        await discord.until(lambda: bool(discord.gateways), within=30)
        asked = await imagine(discord, "a fox by a partner node", template="dalle")
        await discord.until(final(discord, asked), within=30)
        bot.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(bot.process.wait(), 30)
    finally:
        await stopped([bot], discord, comfy)
    assert discord.original(asked).embeds[0]["title"] == "Done"
    assert comfy.sensitive_seen == [{"api_key_comfy_org": KEY}]  # with the prompt, as the frontend sends it
    shown = out + err + "".join(bot.lines) + json.dumps([r.json for r in discord.requests], default=str)
    assert KEY not in shown


async def test_without_a_key_check_names_the_template_and_the_member_is_told_what_comfyui_says(
    tmp_path: Path,
) -> None:
    comfy, discord, env = await partner_setup(tmp_path)
    bot = None
    try:
        code, out, _ = await run_cli("check", env=env, cwd=tmp_path)
        bot = await BotProcess.start(env)
        await discord.until(lambda: bool(discord.gateways), within=30)
        asked = await imagine(discord, "a fox by a partner node", template="dalle")
        await discord.until(final(discord, asked), within=30)
        told = discord.original(asked).content
    finally:
        await stopped([bot], discord, comfy)
    assert (
        code == 1
        and (
            "[fail]   dalle on gpu1: its partner nodes (OpenAIDalle3) need a Comfy.org API key: add api_key_comfy_org "
            "to this server in COMFY__BACKENDS"
        )
        in out
    )
    assert "[ok]     txt2img on gpu1: runnable" in out
    assert told == (
        "❌ The workflow stopped: OpenAIDalle3 (node 1) failed: Unauthorized: Please login first to use this node."
    )
