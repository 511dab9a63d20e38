"""Settings: `.env.example` matches the model; wrong values stop start-up with one readable message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from bot.settings import ConfigError, Settings, home, load_settings
from tests.cli import nowhere, run_cli

ROOT = Path(__file__).resolve().parent.parent


def model_variables(model: type[BaseModel], prefix: str = "") -> set[str]:
    names = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names |= model_variables(annotation, f"{prefix}{name.upper()}__")
        else:
            names.add(f"{prefix}{name.upper()}")
    return names


def example_lines() -> list[str]:
    return (ROOT / ".env.example").read_text().splitlines()


def test_env_example_lists_every_setting_with_a_comment() -> None:
    lines = example_lines()
    variables = {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}
    assert variables == model_variables(Settings)
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[index - 1].startswith("# "), f"{line.split('=')[0]} has no comment above it"


def test_env_example_values_are_valid_once_the_token_is_filled_in(monkeypatch: pytest.MonkeyPatch) -> None:
    for line in example_lines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("DISCORD__TOKEN", "token")
    settings = load_settings(_env_file=None)
    assert settings.comfy.backends[0].url == "http://127.0.0.1:8188"
    assert settings.database.path == home() / "data" / "bot.sqlite3" and settings.database.path.is_absolute()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if "__" in name and name.split("__")[0] in {"DISCORD", "COMFY", "DATABASE", "LIMITS", "LOGGING"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("DISCORD__TOKEN", "token")
    return monkeypatch


def problem() -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)
    return str(caught.value)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COMFY__BACKENDS", "ftp://gpu:8188", "COMFY__BACKENDS (item 1: url) must be an http:// or https:// URL"),
        (
            "COMFY__BACKENDS",
            '[{"url": "http://a", "weight": -1}]',
            "COMFY__BACKENDS (item 1: weight) must be greater than 0",
        ),
        ("COMFY__BACKENDS", '[{"url": ', "COMFY__BACKENDS must be valid JSON"),
        ("COMFY__BACKENDS", "", "COMFY__BACKENDS must have at least 1 item"),
        ("COMFY__RETRIES", "-1", "COMFY__RETRIES must be at least 0"),
        ("LIMITS__STEPS_MAX", "-5", "LIMITS__STEPS_MAX must be greater than 0"),
        ("LIMITS__QUEUE_MAX", "lots", "LIMITS__QUEUE_MAX must be a whole number"),
        ("LOGGING__LEVEL", "loud", "LOGGING__LEVEL must be one of 'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        ("DISCORD__TOKEN", "  ", "DISCORD__TOKEN must be a non-empty bot token"),
        ("DISCORD__CHANNEL_WINDOW", "5", "DISCORD__CHANNEL_WINDOW is now DISCORD__BUCKET_WINDOW"),
    ],
)
def test_a_wrong_value_is_named_with_what_is_expected(
    env: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    env.setenv(variable, value)
    assert message in problem()


@pytest.mark.parametrize(
    ("shards", "message"),
    [
        ({"DISCORD__SHARD_IDS": "1"}, "DISCORD__SHARD_IDS needs DISCORD__SHARD_COUNT"),
        ({"DISCORD__SHARD_COUNT": "2", "DISCORD__SHARD_IDS": "1,2"}, "distinct shard numbers from 0 to 1"),
        ({"DISCORD__SHARD_COUNT": "2", "DISCORD__SHARD_IDS": "1"}, "so DATABASE__URL is needed"),
    ],
)
def test_shards_must_be_some_of_the_count_and_shared_through_postgresql(
    env: pytest.MonkeyPatch, shards: dict[str, str], message: str
) -> None:
    for variable, value in shards.items():
        env.setenv(variable, value)
    assert message in problem()
    env.setenv("DATABASE__URL", "postgresql://bot@db/bot")
    env.setenv("DISCORD__SHARD_COUNT", "2")
    env.setenv("DISCORD__SHARD_IDS", "1")
    settings = load_settings(_env_file=None)
    assert settings.discord.shard_ids == [1] and settings.shares_work


def test_a_missing_token_is_named(env: pytest.MonkeyPatch) -> None:
    env.delenv("DISCORD__TOKEN")
    assert problem() == "Configuration error (see .env.example):\n  DISCORD__TOKEN is required"


def test_several_problems_are_reported_together_and_secrets_never_echoed(env: pytest.MonkeyPatch) -> None:
    env.setenv("COMFY__BACKENDS", '[{"url": "gopher://user:hunter2@gpu", "auth_value": "Bearer s3cret"}]')
    env.setenv("LIMITS__JOBS_PER_USER", "0")
    message = problem()
    assert message.count("\n  ") == 2
    assert "hunter2" not in message and "s3cret" not in message


def test_backends_as_urls_or_json(env: pytest.MonkeyPatch) -> None:
    env.setenv("COMFY__BACKENDS", "http://gpu1:8188/, https://gpu2.example.org")
    env.setenv("DISCORD__DEV_GUILD_IDS", "1, 2")
    settings = load_settings(_env_file=None)
    assert [b.url for b in settings.comfy.backends] == ["http://gpu1:8188", "https://gpu2.example.org"]
    assert [b.display_name for b in settings.comfy.backends] == ["comfy1", "comfy2"]  # never the address
    assert settings.discord.dev_guild_ids == [1, 2]
    env.setenv("COMFY__BACKENDS", '[{"url": "http://gpu1:8188", "name": "big", "auth_value": "Bearer x", "weight": 2}]')
    backend = load_settings(_env_file=None).comfy.backends[0]
    assert backend.display_name == "big" and backend.weight == 2
    assert "Bearer x" not in repr(backend)


async def run_bot(env: dict[str, str]) -> tuple[int, str, str]:
    return await run_cli("check", env=env, cwd=ROOT / "tests")


async def test_start_up_with_a_bad_setting_prints_one_message_and_no_traceback() -> None:
    code, out, err = await run_bot({"DISCORD__TOKEN": "s3cret", "COMFY__BACKENDS": "ftp://x"})
    assert code == 2 and out == ""
    assert err == (
        "Configuration error (see .env.example):\n"
        "  COMFY__BACKENDS (item 1: url) must be an http:// or https:// URL such as http://127.0.0.1:8188\n"
    )


async def test_started_from_another_folder_it_reads_its_own_files(tmp_path: Path) -> None:
    """Started from a folder that holds none of its files, the bot used to read `.env`, `workflows/` and `data/`
    there (`templates` listed nothing and exited 0). It reads them in its own folder (the checkout it runs from)."""
    code, out, err = await run_cli("templates", env={"COMFY__BACKENDS": nowhere()}, cwd=tmp_path)
    assert code == 0 and "txt2img: Text to image (manifest)" in out, out + err
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - nothing made in the folder it was started from
