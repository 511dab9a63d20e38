"""Running the real discord.py bot against the loopback fake Discord."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bot.__main__ import assemble, comfy_session
from bot.bot import ComfyBot
from bot.process.app import App
from bot.settings import (
    DatabaseSettings,
    DiscordSettings,
    LimitSettings,
    MetricsSettings,
    Settings,
    TemplateSettings,
)
from bot.settings.comfy import BackendSettings, ComfySettings
from tests.fakes.discord_api import USER_ID, FakeDiscord, Interaction, Message, Request
from tests.fakes.discord_payloads import DM_CHANNEL_ID, LOADING


@asynccontextmanager
async def running(bot: ComfyBot, token: str = "test-token", *, logged_in: bool = False) -> AsyncIterator[ComfyBot]:
    """Start the bot (connect it, when it has logged in already), wait until it is ready (surfacing any
    start-up exception), and close it after."""
    task = asyncio.create_task(bot.connect() if logged_in else bot.start(token))
    ready = asyncio.create_task(bot.wait_until_ready())
    done, _ = await asyncio.wait({task, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        ready.cancel()
        task.result()  # raises what made start() fail
        raise AssertionError("the bot stopped before it was ready")
    if ready not in done:
        raise AssertionError("the bot did not become ready")
    try:
        yield bot
    finally:
        await bot.close()
        await asyncio.gather(task, return_exceptions=True)


def settings_between(
    comfy: str | Sequence[tuple[str, str | None]],
    discord_api: str,
    folder: Path,
    *,
    limits: LimitSettings | None = None,
    health_interval: float = 10.0,
    metrics: bool = False,
    busy_timeout: float = 10.0,
    comfy_settings: dict[str, Any] | None = None,
    database_url: str | None = None,
    **discord: Any,
) -> Settings:
    """Settings for a bot between fake ComfyUI servers (one URL, named gpu1, or (url, name) pairs) and the fake
    Discord; data and workflows in `folder`."""
    backends = [(comfy, "gpu1")] if isinstance(comfy, str) else comfy
    return Settings(
        _env_file=None,
        discord=DiscordSettings(token="test-token", api_base=discord_api, **discord),
        comfy=ComfySettings(
            backends=[BackendSettings(url=url, name=name) for url, name in backends],
            retries=1,
            health_interval=health_interval,
            **(comfy_settings or {}),
        ),
        database=DatabaseSettings(
            path=folder / "data" / "bot.sqlite3", busy_timeout=busy_timeout, url=SecretStr(database_url or "")
        ),
        templates=TemplateSettings(dir=folder / "workflows"),
        limits=limits or LimitSettings(),
        metrics=MetricsSettings(enabled=metrics, port=0),
    )


@asynccontextmanager
async def assembled(settings: Settings) -> AsyncIterator[App]:
    """The bot as `python -m bot` builds it, running and ready; closed after."""
    async with comfy_session(settings) as session:
        app = await assemble(settings, session, guild_ready_timeout=0.05)
        try:
            await app.login("test-token")  # as python -m bot does: log in, recover, then connect
            await app.start()
            async with running(app.bot, logged_in=True):
                yield app
        finally:
            await app.close()


def option(name: str, value: Any) -> dict[str, Any]:
    kind = 3 if isinstance(value, str) else 10 if isinstance(value, float) else 4
    return {"name": name, "type": kind, "value": value}


async def imagine(
    discord_fake: FakeDiscord,
    prompt: str,
    *,
    user: int = USER_ID,
    member: dict[str, Any] | None = None,
    locale: str = "en-US",
    **options: Any,
) -> Interaction:
    choices = [option("prompt", prompt)] + [option(k, v) for k, v in options.items()]
    return await discord_fake.interact("imagine", choices, user_id=user, member=member, locale=locale)


def edits_of(discord_fake: FakeDiscord, interaction: Interaction) -> list[Request]:
    return [r for r in discord_fake.requests if r.method == "PATCH" and interaction.token in r.path and r.status == 200]


def busiest_bucket(discord_fake: FakeDiscord, window: float) -> int:
    """The most message edits Discord took within `window` seconds in any one rate-limit bucket: a channel's
    bot-token routes share one, each interaction's webhook (its token) is one of its own."""
    buckets: dict[str, list[float]] = {}
    for r in discord_fake.requests:
        if r.method == "PATCH" and r.status == 200 and "/messages/" in r.path:
            parts = r.path.split("/")
            resource = parts[parts.index("webhooks") + 2] if "webhooks" in parts else parts[parts.index("channels") + 1]
            buckets.setdefault(resource, []).append(r.at)
    return max(
        (sum(1 for t in times if start <= t < start + window) for times in buckets.values() for start in times),
        default=0,
    )


def final(discord_fake: FakeDiscord, interaction: Interaction, *, files: bool = True) -> Callable[[], bool]:
    """The job's message is final: "Done" with its files (or, `files=False`, with or without them: a result that
    could not be attached is named in the embed), or a failure or refusal."""

    def done() -> bool:
        message = discord_fake.messages.get(interaction.message_id or 0)
        return message is not None and (
            (
                bool(message.files or not files)
                and bool(message.embeds)
                and message.embeds[0]["title"] in ("Done", "完成")
            )
            or message.content.startswith(("❌", "⚠️", "🚫"))
        )

    return done


def ended(discord_fake: FakeDiscord, interaction: Interaction) -> Callable[[], bool]:
    """Final, with or without files."""
    return final(discord_fake, interaction, files=False)


def done(discord_fake: FakeDiscord, *interactions: Interaction) -> Callable[[], bool]:
    """Every one of these jobs' messages is final."""
    checks = [final(discord_fake, i) for i in interactions]
    return lambda: all(check() for check in checks)


def fields(message: Message) -> dict[str, str]:
    return {f["name"]: f["value"] for f in message.embeds[0].get("fields", [])}


async def ask(discord_fake: FakeDiscord, name: str, options: list[Any] | None = None, **who: Any) -> Interaction:
    """A slash command answered with one message; returns once that message is there."""
    asked = await discord_fake.interact(name, options, **who)
    await discord_fake.until(lambda: asked.message_id is not None and asked.message_id in discord_fake.messages)
    return asked


async def set_option(discord_fake: FakeDiscord, group: str, name: str, value: str, **who: Any) -> Interaction:
    """`/config set` or `/settings set`: one option to one value."""
    options = [{"name": "option", "type": 3, "value": name}, {"name": "value", "type": 3, "value": value}]
    return await ask(discord_fake, group, [{"name": "set", "type": 1, "options": options}], **who)


async def wait_until_older_than(interaction: Interaction, age: float) -> None:
    """Let the (short, in this test) interaction token expire: waiting out a deadline is the point here."""
    remaining = interaction.created + age - time.monotonic()
    if remaining > 0:
        await asyncio.sleep(remaining)


async def answer(discord_fake: FakeDiscord, asked: Interaction) -> str:
    """What the member was answered (the reply, or the first follow-up of a deferred one), once it is written."""

    def written() -> bool:
        message = discord_fake.messages.get(asked.message_id or 0)
        return message is not None and not message.flags & LOADING and bool(message.content or message.embeds)

    await discord_fake.until(written)
    return discord_fake.original(asked).content


def job_id(message: Message) -> str:
    """The job a progress message is about, from its Cancel button."""
    [button] = [c["custom_id"] for row in message.components for c in row["components"]]
    return str(button).removeprefix("job:cancel:")


def direct_messages(discord: FakeDiscord, user_id: int) -> list[Message]:
    return [m for m in discord.messages.values() if m.channel_id == DM_CHANNEL_ID + user_id]


def button(message: Message, action: str, index: int | None = None) -> str:
    wanted = f"job:{action}:"
    for row in message.components:
        for component in row["components"]:
            custom_id = str(component.get("custom_id", ""))
            if custom_id.startswith(wanted) and (index is None or custom_id.endswith(f":{index}")):
                return custom_id
    raise AssertionError(f"no {action} button on the message: {message.components}")


async def deliver(discord: FakeDiscord, prompt: str, **options: Any) -> tuple[Interaction, Message]:
    interaction = await imagine(discord, prompt, **options)
    await discord.until(final(discord, interaction))
    return interaction, discord.original(interaction)


def done_edits(discord: FakeDiscord, interaction: Interaction) -> list[Any]:
    """The requests Discord accepted that showed the interaction's result ("Done"): one, when delivered once."""
    return [
        r
        for r in discord.requests
        if interaction.token in r.path
        and r.status == 200
        and (r.json or {}).get("embeds", [{}])[0].get("title") == "Done"
    ]
