"""The ComfyUI servers' settings (`COMFY__...`): each server, and how the bot talks to them. Read as part of
`Settings` (this package's `__init__`), which re-exports them."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, SecretStr, field_validator
from pydantic_settings import NoDecode

from .urls import credentials_problem, shown


class BackendSettings(BaseModel):
    """One ComfyUI server."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(description="base URL, http:// or https://")
    name: str | None = Field(default=None, description="a short name shown to users and admins")
    auth_header: str = Field(default="Authorization", description="header name for a reverse proxy's auth")
    auth_value: SecretStr | None = Field(default=None, description="header value, e.g. 'Bearer ...'")
    weight: PositiveFloat = Field(default=1.0, description="relative share of the work")
    api_key_comfy_org: SecretStr | None = Field(
        default=None,
        description="a Comfy.org API key for ComfyUI's partner (API) nodes, sent with each prompt (never shown)",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("an http:// or https:// URL such as http://127.0.0.1:8188")
        problem = credentials_problem(value.strip(), "http://127.0.0.1:8188")  # never repeats the URL
        if problem:
            raise ValueError(problem)
        return value.strip().rstrip("/")

    @property
    def display_name(self) -> str:
        """What members and the logs call it: its name (derived from its place when none is given, as
        ComfySettings does), never its URL, which may carry a password and names an internal address."""
        return self.name or "comfy"

    @property
    def shown_url(self) -> str:
        """The URL for the operator (`check`, start-up): scheme, host and port, without any user:password."""
        return shown(self.url)


class ComfySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    backends: Annotated[list[BackendSettings], NoDecode] = Field(
        default_factory=lambda: [BackendSettings(url="http://127.0.0.1:8188")],
        min_length=1,
        description="comma-separated URLs, or a JSON list of {url, name, auth_header, auth_value, weight, "
        "api_key_comfy_org}",
    )
    request_timeout: PositiveFloat = Field(default=30.0, description="seconds for one REST call")
    retries: Annotated[int, Field(ge=0, le=10)] = Field(default=3, description="retries of idempotent calls")
    health_interval: PositiveFloat = Field(default=10.0, description="seconds between health checks of a backend")
    warm_routing: bool = Field(
        default=True, description="send a job where its models are loaded when that is sooner than loading them"
    )
    silence_timeout: PositiveFloat = Field(
        default=120.0, description="seconds without a frame before a running prompt is checked in /history"
    )
    reconnect_delay: PositiveFloat = Field(
        default=0.5, description="seconds before a dropped WebSocket is opened again, doubled at each failure"
    )
    reconnect_max_delay: PositiveFloat = Field(
        default=30.0, description="the most seconds between two tries (a server that answers again is tried at once)"
    )
    max_reply_bytes: PositiveInt = Field(
        default=64 * 2**20, description="bytes of one REST reply (object_info included)"
    )
    max_frame_bytes: PositiveInt = Field(default=16 * 2**20, description="bytes of one WebSocket frame (a preview)")
    max_file_bytes: PositiveInt = Field(default=64 * 2**20, description="bytes of one result file")
    max_job_bytes: PositiveInt = Field(default=256 * 2**20, description="bytes of all of one job's result files")
    min_transfer_rate: PositiveInt = Field(
        default=32 * 1024, description="bytes per second a result download must keep up (after the grace)"
    )
    transfer_grace: PositiveFloat = Field(
        default=10.0, description="seconds a download may take before its rate counts"
    )
    delivery_timeout: PositiveFloat = Field(
        default=300.0, description="seconds fetching all of one job's result files may take before the job fails"
    )

    @field_validator("backends", mode="after")
    @classmethod
    def _named(cls, backends: list[BackendSettings]) -> list[BackendSettings]:
        """A backend without a name is called after its place (comfy1, comfy2...): never after its URL."""
        return [b if b.name else b.model_copy(update={"name": f"comfy{n}"}) for n, b in enumerate(backends, start=1)]

    @field_validator("backends", mode="before")
    @classmethod
    def _parse_backends(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
        return [{"url": part.strip()} for part in text.split(",") if part.strip()]
