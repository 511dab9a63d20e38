"""The two commands of the README, as an operator meets them: `bash scripts/run` checks the interpreter before
anything (a Python that is too old is refused at once, with the fix), says what it does when it installs, and
installs only when pyproject.toml changed, so a start once installed needs no package index (a supervisor's
restart during a network outage brings the bot back)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

from tests.cli import closed_port

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)  # the environment the tests run in, with the bot installed


def offline() -> dict[str, str]:
    """The environment with the package index out of reach (a loopback port nothing listens on)."""
    port = closed_port()
    keep = {k: v for k, v in os.environ.items() if "__" not in k and not k.startswith(("PIP_", "VIRTUAL_ENV"))}
    return keep | {
        "PIP_INDEX_URL": f"http://127.0.0.1:{port}/simple",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
        "PIP_NO_CACHE_DIR": "1",  # nothing from an earlier download either
        "PIP_CONFIG_FILE": os.devnull,  # nor a local mirror a configuration file names
    }


async def script(path: Path, *args: str, env: dict[str, str]) -> tuple[int, str, str, float]:
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        "bash", str(path), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode(), time.monotonic() - started


def project_copy(folder: Path, *, installed: bool) -> Path:
    """The project's files; `installed`: with a .venv of its own that uses the tests' installed environment (its
    own pyvenv.cfg and stamp; the interpreter and the libraries linked: nothing may install into it)."""
    folder.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", ".env.example"):
        shutil.copy(ROOT / name, folder / name)
    for name in ("scripts", "workflows", "bot"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    if not installed:
        return folder
    venv = folder / ".venv"
    (venv / "bin").mkdir(parents=True)
    shutil.copy(VENV / "pyvenv.cfg", venv / "pyvenv.cfg")
    (venv / "lib").symlink_to(VENV / "lib")
    (venv / "bin" / "python").symlink_to(VENV / "bin" / "python")
    return folder


async def test_a_python_that_is_too_old_is_refused_at_once_with_the_fix(tmp_path: Path) -> None:
    old = tmp_path / "python3.10"
    old.write_text('#!/bin/sh\ncase "$*" in *"print("*) echo 3.10.12; exit 0;; esac\nexit 1\n')
    old.chmod(0o755)
    code, out, err, took = await script(ROOT / "scripts" / "run", env=offline() | {"PYTHON": str(old)})
    print(f"refused in {took:.2f} s")
    assert code == 1 and not out
    assert f"{old} is Python 3.10.12; the bot needs 3.11 or newer" in err and "PYTHON=python3.11 bash" in err


async def test_once_installed_a_start_needs_no_package_index_and_the_first_says_what_it_does(tmp_path: Path) -> None:
    env = offline() | {"PYTHON": sys.executable}
    # a fresh clone: it says what it does first, and with no package index it fails in words
    fresh = project_copy(tmp_path / "fresh", installed=False)
    code, out, err, _ = await script(fresh / "scripts" / "run", "--help", env=env)
    assert code == 1 and out.startswith("Installing the bot and its dependencies into .venv with Python 3."), out
    assert "the install failed (above: pip's reason; is the package index reachable?)" in err
    # as a first install leaves it (the stamp of this pyproject.toml): the next start installs nothing
    project = project_copy(tmp_path / "installed", installed=True)
    (project / ".venv" / ".installed").write_text(
        hashlib.sha256((project / "pyproject.toml").read_bytes()).hexdigest() + "\n"
    )
    code, out, err, took = await script(project / "scripts" / "run", "--help", env=env)
    print(f"second start: {took:.2f} s")
    assert code == 0 and "Installing" not in out and "check             check the settings" in out, out + err
    assert (project / ".env").read_text().count("=") == 2  # only what the operator sets
    assert oct((project / ".env").stat().st_mode)[-3:] == "600"


async def test_pip_install_gives_the_comfy_discord_bot_command() -> None:
    """`[project.scripts]`: after `pip install .` (or `pipx install .`), the same commands as `python -m bot`."""
    command = Path(sys.executable).parent / "comfy-discord-bot"
    process = await asyncio.create_subprocess_exec(str(command), "--help", stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0
    assert out.decode().startswith("comfy-discord-bot [command]\n  (none)            run the bot")


async def test_the_bot_can_be_tried_without_a_gpu_on_the_fake_comfyui(tmp_path: Path) -> None:
    """README, "Try it without a GPU": `python -m tests.fakes.comfy_server PORT` is a ComfyUI the shipped
    workflows run on; `python -m bot run txt2img` saves its image."""
    port = closed_port()
    keep = {k: v for k, v in os.environ.items() if "__" not in k}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.fakes.comfy_server", str(port), cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        said = (await asyncio.wait_for(server.stdout.readline(), 30)).decode()
        assert said.startswith(f"A fake ComfyUI (no GPU, no models) listens on http://127.0.0.1:{port}")
        env = keep | {"COMFY__BACKENDS": f"http://127.0.0.1:{port}", "PYTHONPATH": str(ROOT)}
        shutil.copytree(ROOT / "workflows", tmp_path / "workflows")
        run = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            "txt2img",
            "--prompt",
            "a fox",
            "--out",
            str(tmp_path / "out"),
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(run.communicate(), 60)
    finally:
        server.terminate()
        await server.wait()
    assert run.returncode == 0, out.decode() + err.decode()
    saved = list((tmp_path / "out").glob("*.png"))
    assert len(saved) == 1 and saved[0].read_bytes().startswith(b"\x89PNG")
