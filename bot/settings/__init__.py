"""Settings: the only code that reads the environment (and `.env`).

Variables are grouped with a double underscore: `DISCORD__TOKEN`, `COMFY__BACKENDS`, `LIMITS__PROMPT_MAX_LENGTH`.
`load_settings()` turns any validation problem into one `ConfigError` whose message names each variable and
what it expects, without echoing the values (they may be secrets).

This package: `Settings` and its groups (here), the ComfyUI servers' (`comfy.py`), the words for what is wrong
(`errors.py`), and URLs that may carry a password, checked and shown without it (`urls.py`).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from .comfy import ComfySettings
from .errors import describe
from .urls import credentials_problem


def comma_list(value: Any) -> Any:
    """`"1, 2"` from the environment as `["1", "2"]` (pydantic then checks each item); other values as they are."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def home() -> Path:
    """The folder the bot's own files are read from and kept in (`.env`, `workflows/`, `data/`, and any relative
    path a setting names): the current folder when it holds a `.env` or a `workflows/` (the bot started in its
    folder, as `scripts/run` does); else the source checkout the bot runs from, when started from elsewhere;
    else the current folder (an installed `comfy-discord-bot`, started in the folder holding its files)."""
    here = Path.cwd()
    if (here / ".env").exists() or (here / "workflows").is_dir():
        return here
    checkout = Path(__file__).resolve().parents[2]  # bot/settings/__init__.py -> the checkout
    if (checkout / "pyproject.toml").is_file() and (checkout / "workflows").is_dir():
        return checkout
    return here


def _from_home(value: Path) -> Path:
    return value if value.is_absolute() else home() / value


HomePath = Annotated[Path, AfterValidator(_from_home)]  # a path a setting names, relative to the bot's folder


class ConfigError(Exception):
    """The configuration cannot be used; the message is meant for the person running the bot."""


class DiscordSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr = Field(description="the bot token from the Discord developer portal")
    moderator_role_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="roles whose members may reroll, vary or delete anyone's result"
    )
    operator_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="users who run the bot: they pause ComfyUI servers and clear every queue (with the app's owners)",
    )
    dev_guild_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list,
        description="guild ids to sync slash commands to during development (comma-separated)",
    )

    api_base: str = Field(
        default="https://discord.com/api/v10", description="Discord's REST base (or a compatible server or proxy)"
    )
    gateway_url: str | None = Field(default=None, description="gateway URL; empty: the one Discord's REST names")
    edit_interval: PositiveFloat = Field(default=1.5, description="seconds between edits of one progress message")
    bucket_edits: PositiveInt = Field(
        default=4,
        description="edits per window in one Discord rate-limit bucket: a channel, or one member's reply (about 5)",
    )
    bucket_window: PositiveFloat = Field(default=5.0, description="seconds of that edit window")
    progress_per_second: PositiveFloat = Field(
        default=20.0, description="progress and queue-place edits per second, all messages together"
    )
    token_handoff: PositiveFloat = Field(
        default=14 * 60, description="seconds after which a job's message is edited through the channel route"
    )
    shutdown_timeout: PositiveFloat = Field(
        default=10.0, description="seconds a SIGTERM may take: final messages flushed, then everything closed"
    )
    shard_count: PositiveInt | None = Field(
        default=None, description="gateway shards of the whole bot, every process together; empty: as Discord says"
    )
    shard_ids: Annotated[list[int] | None, NoDecode] = Field(
        default=None,
        description="the shards this process connects (comma-separated; several processes share one PostgreSQL); "
        "empty: all",
    )

    @field_validator("api_base", "gateway_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None if value is not None and not value.strip() else value
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise ValueError("an http(s):// or ws(s):// URL")
        return value.strip().rstrip("/")

    @field_validator("token")
    @classmethod
    def _token_not_blank(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("a non-empty bot token")
        return value

    @field_validator("dev_guild_ids", "moderator_role_ids", "operator_ids", "shard_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        return comma_list(value)

    @field_validator("shard_ids", "shard_count", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _shards(self) -> DiscordSettings:
        ids = self.shard_ids
        if ids is None:
            return self
        if self.shard_count is None:
            raise ValueError("DISCORD__SHARD_IDS needs DISCORD__SHARD_COUNT (it names some of that many shards)")
        if not ids or len(set(ids)) != len(ids) or not all(0 <= i < self.shard_count for i in ids):
            raise ValueError(f"DISCORD__SHARD_IDS must be distinct shard numbers from 0 to {self.shard_count - 1}")
        return self


class DatabaseSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    path: HomePath = Field(default=Path("data/bot.sqlite3"), validate_default=True, description="the SQLite file")

    url: SecretStr | None = Field(
        default=None,
        description="postgresql://user:password@host:5432/db: PostgreSQL instead of the SQLite file (it may hold a "
        "password: never shown)",
    )
    retention_days: PositiveFloat = Field(default=90, description="days finished jobs are kept")
    busy_timeout: PositiveFloat = Field(
        default=10, description="seconds a write waits for a database another program has locked before giving up"
    )

    lease_retry: PositiveFloat = Field(
        default=2.0,
        description="with PostgreSQL: seconds between a standby's tries for the dispatcher lease, and between the "
        "holder's checks that it still holds it (a takeover takes about this long, plus the start)",
    )

    @field_validator("url")
    @classmethod
    def _postgresql(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None  # unset or empty: the SQLite file
        if not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (leave it unset for the SQLite file)")
        problem = credentials_problem(value.get_secret_value(), "postgresql://bot:password@127.0.0.1:5432/bot")
        if problem:
            raise ValueError(problem)
        return value


class LimitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_max_length: PositiveInt = Field(
        default=1500, description="characters in a prompt, and in a negative prompt (after inline flags)"
    )
    steps_max: PositiveInt = Field(default=60, description="sampler steps a member may ask for")
    batch_max: PositiveInt = Field(default=16, description="images in one job (the count), for every template")
    image_max_side: PositiveInt = Field(default=2048, description="pixels on the longer side")
    jobs_per_user: PositiveInt = Field(default=3, description="queued plus running jobs per member")
    running_per_user: PositiveInt = Field(
        default=1, description="jobs of one member in flight at once (running or next in ComfyUI's queue)"
    )
    queue_max: PositiveInt = Field(default=200, description="jobs waiting in the whole queue")
    guild_shares: dict[int, PositiveFloat] = Field(
        default_factory=dict,
        description='each server\'s share of the GPU fleet, as JSON {"guild id": share} (1 for every other server)',
    )
    fair_by_gpu_time: bool = Field(
        default=True, description="turns are counted in GPU-seconds (false: one turn per job, whatever it costs)"
    )
    attachment_max_bytes: PositiveInt = Field(default=10 * 2**20, description="bytes of an image a member attaches")
    attachment_max_pixels: PositiveInt = Field(
        default=4096 * 4096, description="pixels (width x height) of an image a member attaches"
    )
    job_deadline: PositiveFloat = Field(
        default=30 * 60, description="seconds a job may take from dispatch to its end before it is stopped"
    )
    reroll_cooldown: NonNegativeFloat = Field(default=10.0, description="seconds between two follow-ups of a member")
    media_workers: PositiveInt = Field(
        default=2, description="processes that decode attachments and re-encode results (members take turns)"
    )
    media_memory: int = Field(
        default=3 * 2**30,
        ge=512 * 2**20,
        description="bytes of address space each media process may use: a file that decodes to more is refused",
    )
    media_seconds: PositiveFloat = Field(
        default=120, description="seconds one attachment or result may take to decode and re-encode"
    )


class TemplateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dir: HomePath = Field(
        default=Path("workflows"), validate_default=True, description="the folder of workflow templates"
    )


class PolicySettings(BaseModel):
    """Defaults for every server; admins change their own server's with /config."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel_ids: Annotated[list[int], NoDecode] = Field(default_factory=list, description="channels (empty: all)")
    role_ids: Annotated[list[int], NoDecode] = Field(default_factory=list, description="roles that may (empty: all)")
    admin_role_ids: Annotated[list[int], NoDecode] = Field(
        default_factory=list, description="roles that may administer the bot"
    )
    dms: bool = Field(default=False, description="make images in direct messages")
    banned_words: Annotated[list[str], NoDecode] = Field(default_factory=list, description="words refused in prompts")
    spoiler_outside_nsfw: bool = Field(default=False, description="spoiler results outside age-restricted channels")
    allow_private: bool = Field(default=True, description="members may ask for private (ephemeral) results")

    @field_validator("channel_ids", "role_ids", "admin_role_ids", "banned_words", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return comma_list(value)


class MetricsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, description="serve Prometheus metrics at /metrics")
    host: str = Field(default="127.0.0.1", description="address to bind (127.0.0.1: this machine only)")
    port: int = Field(default=9108, ge=0, le=65535, description="port (0: any free port)")

    def exposure(self) -> str | None:
        """A warning when `/metrics` is served beyond this machine (they name the servers and count every
        guild's jobs), or None."""
        if not self.enabled or _loopback(self.host):
            return None
        return (
            f"METRICS__HOST={self.host} serves /metrics to every machine that can reach this one (server names, "
            "job counts); use 127.0.0.1 unless a firewall or a proxy guards the port"
        )


def _loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any address


class LoggingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(default="INFO", description="log level")
    format: Literal["plain", "json"] = Field(default="plain", description="plain text or one JSON per line")

    @field_validator("level", "format", mode="before")
    @classmethod
    def _normalise_case(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    discord: DiscordSettings
    comfy: ComfySettings = Field(default_factory=ComfySettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    templates: TemplateSettings = Field(default_factory=TemplateSettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)

    @model_validator(mode="after")
    def _several_processes(self) -> Settings:
        """Some of the shards in this process: the others are other processes, which share one database."""
        if self.shares_work and self.database.url is None:
            raise ValueError(
                "DISCORD__SHARD_IDS names some of the shards: the processes that run the others share the "
                "jobs through PostgreSQL, so DATABASE__URL is needed"
            )
        return self

    @property
    def shares_work(self) -> bool:
        """Whether other bot processes connect the other shards: this one relays what it receives to the
        dispatcher lease's holder (`relaying.py`) until it holds the lease itself."""
        discord = self.discord
        return discord.shard_ids is not None and len(discord.shard_ids) < (discord.shard_count or 0)


class _TemplatesOnly(BaseSettings):
    model_config = SettingsConfigDict(env_nested_delimiter="__", env_file=".env", extra="ignore")

    templates: TemplateSettings = Field(default_factory=TemplateSettings)


def templates_folder() -> Path:
    """`TEMPLATES__DIR` alone, for commands that need no Discord token (`python -m bot templates`)."""
    try:
        return _TemplatesOnly(_env_file=home() / ".env").templates.dir
    except ValidationError as exc:
        raise ConfigError(describe(exc, Settings)) from None


def load_settings_without_discord() -> tuple[Settings, str | None]:
    """The settings for `check`, which checks everything else before a Discord application exists: and, when the
    token is missing or unusable, why (then Discord is not checked); the other settings are held as usual."""
    try:
        return load_settings(), None
    except ConfigError as exc:
        try:
            settings = load_settings(discord={"token": "unused"})  # merged with every other setting
        except ConfigError:
            raise exc from None
        return settings, str(exc).splitlines()[-1].strip()


def load_settings(**overrides: Any) -> Settings:
    """Read the environment and `.env`; raise `ConfigError` with a readable message on any problem."""
    try:
        return Settings(**({"_env_file": home() / ".env"} | overrides))
    except ValidationError as exc:
        raise ConfigError(describe(exc, Settings)) from None
    except SettingsError as exc:  # a value pydantic-settings could not even decode
        raise ConfigError(f"Configuration error (see .env.example):\n  {exc}") from None
