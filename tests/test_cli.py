"""`python -m bot check` and `python -m bot run`, as real processes against the fake ComfyUI."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from bot.permissions import NEEDED, needed_value
from tests.cli import nowhere, run_cli
from tests.fakes.comfy_server import FakeComfy, full_nodes
from tests.fakes.discord_api import CHANNEL_ID, FakeDiscord
from tests.fakes.discord_payloads import ATTACH_FILES, EMBED_LINKS
from tests.stack import checkpoints
from tests.templates.test_ui_format import with_subgraph

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = "v1-5-pruned-emaonly.safetensors"


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    fake = await FakeDiscord(token="t").start()
    fake.commands["global"] = [{"name": "imagine", "description": "Make an image", "type": 1}]  # synced before
    yield fake
    await fake.stop()


def configured(tmp_path: Path, backends: str, discord: FakeDiscord | None = None) -> dict[str, str]:
    shutil.copytree(ROOT / "workflows", tmp_path / "workflows", dirs_exist_ok=True)
    where = {"DISCORD__API_BASE": discord.api_base} if discord is not None else {}
    return where | {
        "DISCORD__TOKEN": "t",
        "COMFY__BACKENDS": backends,
        "COMFY__RETRIES": "0",
        "TEMPLATES__DIR": str(tmp_path / "workflows"),
        "DATABASE__PATH": str(tmp_path / "data" / "bot.sqlite3"),
    }


async def test_check_on_a_good_configuration(fake: FakeComfy, discord_fake: FakeDiscord, tmp_path: Path) -> None:
    checkpoints(fake).append(SHIPPED)
    env = configured(tmp_path, f'[{{"url": "{fake.base_url}", "name": "gpu1"}}]', discord_fake)
    code, out, _ = await run_cli("check", env=env, cwd=tmp_path)
    assert code == 0, out
    assert "[ok]   database " in out and "0 job(s)" in out
    assert "[ok]   templates: 4 loaded (img2img, quick, txt2img, upscale)" in out
    assert f"[ok]   backend gpu1 ({fake.base_url}): ComfyUI 0.3.64, 12 node types, cpu" in out
    assert "[ok]     txt2img on gpu1: runnable" in out
    assert "[ok]   discord: the token is the bot comfybot (application 1000)" in out
    assert "[ok]   discord: 1 slash command(s) synced globally" in out
    assert "[ok]   discord: the bot has what it needs in 1 of 1 channel(s) of 1 server(s)" in out
    assert out.endswith("Everything is ready.\n")


async def test_check_verifies_the_token_and_the_commands_with_discord(
    fake: FakeComfy, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    checkpoints(fake).append(SHIPPED)
    env = configured(tmp_path, fake.base_url, discord_fake) | {"DISCORD__TOKEN": "a-dummy-token"}
    code, out, _ = await run_cli("check", env=env, cwd=tmp_path)
    assert code == 1 and "[fail] discord: Discord refused the token (401" in out and "dummy" not in out
    discord_fake.commands.clear()
    code, out, _ = await run_cli("check", env=configured(tmp_path, fake.base_url, discord_fake), cwd=tmp_path)
    assert code == 1 and "[fail] discord: 0 slash command(s) synced globally: not synced yet" in out


async def test_check_lists_what_the_bot_lacks_in_each_channel(
    fake: FakeComfy, discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    checkpoints(fake).append(SHIPPED)
    await discord_fake.deny(CHANNEL_ID + 1, ATTACH_FILES | EMBED_LINKS)
    code, out, _ = await run_cli("check", env=configured(tmp_path, fake.base_url, discord_fake), cwd=tmp_path)
    assert code == 1
    assert f"[fail] discord: in Community #art-{CHANNEL_ID + 1} the bot lacks embed_links, attach_files" in out
    assert "[ok]   discord: the bot has what it needs in 1 of 2 channel(s) of 1 server(s)" in out


async def test_invite_prints_a_url_with_exactly_the_permissions_the_bot_checks(
    discord_fake: FakeDiscord, tmp_path: Path
) -> None:
    code, out, _ = await run_cli("invite", env=configured(tmp_path, nowhere(), discord_fake), cwd=tmp_path)
    assert code == 0, out
    [url] = [line for line in out.splitlines() if line.startswith("https://")]
    query = parse_qs(urlparse(url).query)
    assert urlparse(url).netloc == "discord.com" and query["client_id"] == ["1000"]
    assert query["scope"] == ["bot applications.commands"]
    expected = 0
    for bit in NEEDED.values():
        expected |= bit
    assert int(query["permissions"][0]) == expected == needed_value()
    assert set(NEEDED) == {
        "view_channel",
        "send_messages",
        "embed_links",
        "attach_files",
        "read_message_history",
        "add_reactions",
    }


async def test_check_names_each_problem(fake: FakeComfy, discord_fake: FakeDiscord, tmp_path: Path) -> None:
    down = nowhere()
    env = configured(tmp_path, f"{fake.base_url}, {down}", discord_fake)
    (tmp_path / "workflows" / "ui.json").write_text(json.dumps({"nodes": [], "links": []}))
    code, out, _ = await run_cli("check", env=env, cwd=tmp_path)
    assert code == 1
    assert "[fail] template refused: ui.json: a UI-format export that cannot be converted: it has no node" in out
    assert "[fail]   txt2img on comfy1:" in out and f"ckpt_name '{SHIPPED}' is not present" in out
    assert f"[fail] backend comfy2 ({down}): comfy2 unavailable (cannot connect: " in out
    assert out.splitlines()[-1].endswith("problem(s).")


async def test_run_saves_the_images_comfyui_made(fake: FakeComfy, tmp_path: Path) -> None:
    env = configured(tmp_path, fake.base_url)
    out_dir = tmp_path / "pictures"
    code, out, _ = await run_cli(
        "run",
        "quick",
        "--prompt",
        "a lighthouse",
        "--set",
        "seed=42",
        "--set",
        "steps=3",
        "--set",
        "model=sd15-random.safetensors",
        "--out",
        str(out_dir),
        env=env,
        cwd=tmp_path,
    )
    assert code == 0, out
    [(kind, subfolder, name)] = [key for key in fake.files if key[0] == "output"]
    [saved] = list(out_dir.iterdir())
    assert saved.read_bytes() == fake.files[(kind, subfolder, name)] and saved.suffix == ".png"
    assert "3/3 KSampler" in out and f"saved {saved}" in out and "seed 42" in out
    graph = next(iter(fake.history.values()))["prompt"][2]
    assert graph["6"]["inputs"]["text"] == "a lighthouse" and graph["3"]["inputs"]["seed"] == 42


async def test_run_explains_a_bad_parameter(tmp_path: Path) -> None:
    env = configured(tmp_path, nowhere())
    code, out, _ = await run_cli("run", "quick", "--set", "steps=lots", env=env, cwd=tmp_path)
    assert code == 1 and out.strip() == "steps must be a whole number (got 'lots')"


async def test_ctrl_c_during_run_cancels_the_prompt_on_the_server(fake: FakeComfy, tmp_path: Path) -> None:
    env = configured(tmp_path, fake.base_url)
    fake.hold()
    clean = {k: v for k, v in os.environ.items() if "__" not in k}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "run",
        "quick",
        "--prompt",
        "a long one",
        "--set",
        "model=sd15-random.safetensors",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        try:
            await fake.until(lambda: fake.running is not None, within=30)
        except TimeoutError:
            raise AssertionError(str(await process.communicate())) from None
        process.send_signal(signal.SIGINT)  # Ctrl-C
        out, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
    interrupts = [body for method, path, body in fake.requests if path == "/interrupt"]
    assert interrupts and b"prompt_id" in interrupts[-1] and "cancelled" in out.decode(), (out, fake.requests[-6:])
    assert "has no GPU (CPU only)" in out.decode()


@pytest.mark.parametrize("declared", ["../../escaped.png", "ABSOLUTE"])
async def test_run_saves_only_inside_its_folder_whatever_names_comfyui_sends(
    fake: FakeComfy, tmp_path: Path, declared: str
) -> None:
    """A hostile server (or anyone on the plain-http path) names its output with a path that climbs out of the
    folder, or an absolute one: the file is saved in the folder under a name the bot makes, nowhere else."""
    work = tmp_path / "work"
    work.mkdir()
    target = tmp_path / "escaped.png"
    fake.output_names.append(str(target) if declared == "ABSOLUTE" else declared)
    env = configured(work, fake.base_url)
    out_dir = work / "out" / "pictures"
    args = ["run", "quick", "--prompt", "x", "--set", "model=sd15-random.safetensors", "--out", str(out_dir)]
    code, out, _ = await run_cli(*args, env=env, cwd=work)
    assert code == 0, out
    [saved] = list(out_dir.iterdir())
    assert saved.suffix == ".png" and saved.read_bytes().startswith(b"\x89PNG")
    assert not target.exists() and not (work / "escaped.png").exists() and not (work / "out" / "escaped.png").exists()


async def test_run_converts_a_ui_format_template_with_the_servers_nodes(fake: FakeComfy, tmp_path: Path) -> None:
    env = configured(tmp_path, fake.base_url)
    (tmp_path / "workflows" / "fromui.json").write_text(json.dumps(with_subgraph()))
    out_dir = tmp_path / "pictures"
    code, out, _ = await run_cli(
        "run", "fromui", "--prompt", "a lighthouse", "--set", "steps=3", "--out", str(out_dir), env=env, cwd=tmp_path
    )
    assert code == 0, out
    [graph] = [json.loads(body)["prompt"] for _, path, body in fake.requests if path == "/prompt"]
    assert graph["40:1"]["inputs"]["text"] == "a lighthouse"  # the subgraph's text encoder, flattened
    assert len(list(out_dir.iterdir())) == 1


async def test_run_says_why_a_template_is_refused_and_prints_a_text_result(fake: FakeComfy, tmp_path: Path) -> None:
    env = configured(tmp_path, fake.base_url)
    fake.object_info.update(full_nodes("PrimitiveStringMultiline", "PreviewAny"))
    folder = tmp_path / "workflows"
    shown = {
        "1": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "hello"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
    }
    (folder / "shown.json").write_text(json.dumps(shown))  # a text is its only result
    (folder / "shown.toml").write_text(
        '[[parameters]]\nname = "prompt"\ntype = "text"\ntargets = [{ node = "1", input = "value" }]\n'
    )
    (folder / "broken.json").write_text(json.dumps({"1": {"class_type": "SaveImage", "inputs": {"images": ["9", 0]}}}))

    code, out, _ = await run_cli("run", "broken", "--out", str(tmp_path / "out"), env=env, cwd=tmp_path)
    assert code == 1 and out.startswith("The template broken cannot be used: broken.json: ")

    code, out, _ = await run_cli(
        "run", "shown", "--prompt", "a lighthouse", "--out", str(tmp_path / "out"), env=env, cwd=tmp_path
    )
    assert code == 0, out
    assert "text: a lighthouse\n" in out


@pytest.mark.parametrize(("host", "warned"), [("0.0.0.0", True), ("::", True), ("127.0.0.1", False), ("::1", False)])
async def test_check_warns_when_metrics_are_served_beyond_this_machine(
    fake: FakeComfy, discord_fake: FakeDiscord, tmp_path: Path, host: str, warned: bool
) -> None:
    """METRICS__HOST=0.0.0.0 used to pass without a word (the metrics name the servers and count every guild's
    jobs); `check` (and the start, in its log) warns."""
    checkpoints(fake).append(SHIPPED)
    env = configured(tmp_path, fake.base_url, discord_fake) | {"METRICS__ENABLED": "true", "METRICS__HOST": host}
    code, out, _ = await run_cli("check", env=env, cwd=tmp_path)
    assert code == 0, out
    assert (f"[warn] METRICS__HOST={host} serves /metrics to every machine" in out) is warned, out


async def test_check_without_a_token_checks_everything_else_and_skips_discord(fake: FakeComfy, tmp_path: Path) -> None:
    """Before a Discord application exists, `check` used to refuse to run: ComfyUI and the workflows could not be
    checked. It checks them, and says Discord is skipped and why; a wrong setting elsewhere still stops it."""
    checkpoints(fake).append(SHIPPED)
    env = configured(tmp_path, fake.base_url)
    del env["DISCORD__TOKEN"]
    code, out, err = await run_cli("check", env=env, cwd=tmp_path)
    assert code == 0, out + err
    assert "[ok]   templates: 4 loaded (img2img, quick, txt2img, upscale)" in out
    assert f"[ok]   backend comfy1 ({fake.base_url}): ComfyUI 0.3.64" in out
    assert "[skip] discord: DISCORD__TOKEN is required; set it to check the token" in out
    code, out, err = await run_cli("check", env=env | {"LIMITS__STEPS_MAX": "many"}, cwd=tmp_path)
    assert code == 2 and "LIMITS__STEPS_MAX" in err and "Traceback" not in err
