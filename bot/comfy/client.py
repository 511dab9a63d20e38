"""The async REST client of one ComfyUI server, on an aiohttp session borrowed from the caller.

Every call has a timeout. Idempotent calls are retried with backoff on connection errors and 5xx; other
answers become exceptions of `errors.py`. `POST /prompt` is never re-posted blindly: the prompt id is chosen
here, so when an answer is lost the client looks in `/queue` and `/history` before posting again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp

from .answers import (
    NO_REDIRECTS,
    ServerError,
    not_redirected,
    parsed_json,
    raise_for_client_error,
    reason,
    submit_answer,
)
from .errors import ComfyError, ComfyProtocolError, ComfyUnavailable
from .events import FileRef
from .models import (
    HistoryEntry,
    NodeInfo,
    QueueSnapshot,
    SubmitResult,
    SystemStats,
    UploadedFile,
    parse_history,
    parse_object_info,
    parse_queue,
    parse_system_stats,
    parse_upload,
)

log = logging.getLogger(__name__)

Graph = Mapping[str, Any]
T = TypeVar("T")


def redacted(url: str) -> str:
    """`scheme://host:port` of a URL, without any user:password it may carry."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class ComfyClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.25,
        name: str | None = None,
        max_reply_bytes: int = 64 * 2**20,
        min_transfer_rate: float = 32 * 1024,
        transfer_grace: float = 10.0,
        extra_data: Mapping[str, Any] | None = None,
    ) -> None:
        self._session = session
        # sent with every prompt: ComfyUI's partner nodes read the Comfy.org key from `extra_data.api_key_comfy_org`
        # (ComfyUI execution.py, get_input_data: the hidden input API_KEY_COMFY_ORG); a secret, never logged
        self._extra_data = dict(extra_data or {})
        self.base_url = base_url.rstrip("/")
        self.where = name or redacted(self.base_url)  # in every message: the server's name, not its address
        self._headers = dict(headers or {})
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retries = retries
        self._backoff = backoff
        # A hostile or broken server must not exhaust memory or hold a job forever: every REST reply is read up
        # to `max_reply_bytes`, and a file transfer slower than `min_transfer_rate` (bytes/s, once it has had
        # `transfer_grace` seconds) is given up.
        self.max_reply_bytes = max_reply_bytes
        self.min_transfer_rate = min_transfer_rate
        self.transfer_grace = transfer_grace

    @property
    def session(self) -> aiohttp.ClientSession:
        return self._session

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    def ws_url(self, client_id: str) -> str:
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        return f"{scheme}{self.base_url[self.base_url.index(':') :]}/ws?clientId={client_id}"

    # ---- transport -------------------------------------------------------------------------------------

    async def _pause(self, attempt: int) -> None:
        delay = self._backoff * (2**attempt)
        await asyncio.sleep(delay * (0.5 + random.random() / 2))  # jitter: backends restart together

    async def _retrying(self, what: str, idempotent: bool, attempt: Callable[[], Awaitable[T]]) -> T:
        """Run one attempt, again with backoff on connection errors and 5xx when the call is idempotent."""
        attempts = self._retries + 1 if idempotent else 1
        for number in range(attempts):
            try:
                return await attempt()
            except (aiohttp.ClientConnectionError, TimeoutError, ServerError) as exc:
                if number == attempts - 1:
                    raise ComfyUnavailable(f"{self.where} unavailable ({reason(exc)}) on {what}") from exc
                log.warning("%s %s: %s, retrying", self.where, what, reason(exc))
            await self._pause(number)
        raise AssertionError("unreachable")

    async def _call(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> Any:
        """JSON (or `None` for an empty body) of a 2xx answer; 4xx become `ComfyRejected`."""

        async def attempt() -> tuple[int, bytes]:
            async with self._session.request(
                method, self.base_url + path, headers=self._headers, timeout=self._timeout, **NO_REDIRECTS, **kwargs
            ) as response:
                not_redirected(response.status, f"{method} {path}")
                body = await self._bounded(response, f"{method} {path}")
                if response.status >= 500:
                    raise ServerError(response.status)
                return response.status, body

        status, body = await self._retrying(f"{method} {path}", idempotent, attempt)
        raise_for_client_error(status, method, path)
        return parsed_json(body, path)

    # ---- prompts ---------------------------------------------------------------------------------------

    async def submit(
        self,
        graph: Graph,
        *,
        client_id: str,
        prompt_id: str | None = None,
        front: bool = False,
        extra_data: Mapping[str, Any] | None = None,
    ) -> SubmitResult:
        """Queue a graph. Raises `PromptRejected` (400, with per-node errors) or `ComfyUnavailable`."""
        prompt_id = prompt_id or str(uuid.uuid4())
        body: dict[str, Any] = {"prompt": graph, "client_id": client_id, "prompt_id": prompt_id}
        if front:
            body["front"] = True
        if extra_data or self._extra_data:
            body["extra_data"] = {**self._extra_data, **(extra_data or {})}
        payload = json.dumps(body).encode()
        for attempt in range(self._retries + 1):
            try:
                async with self._session.post(
                    self.base_url + "/prompt",
                    data=payload,
                    headers={**self._headers, "Content-Type": "application/json"},
                    timeout=self._timeout,
                    **NO_REDIRECTS,
                ) as response:
                    not_redirected(response.status, "POST /prompt")
                    raw = await self._bounded(response, "POST /prompt")
                    status = response.status
            except aiohttp.ClientConnectorError as exc:  # never reached the server: posting again is safe
                failure: str = reason(exc)
            except (aiohttp.ClientConnectionError, TimeoutError) as exc:  # the answer was lost
                failure = reason(exc)
                found = await self._find_submitted(prompt_id)
                if found is not None:
                    return found
            else:
                if status < 500:
                    return submit_answer(status, raw, prompt_id)
                failure = f"HTTP {status}"
                found = await self._find_submitted(prompt_id)
                if found is not None:
                    return found
            log.warning("%s POST /prompt %s: %s (attempt %d)", self.where, prompt_id, failure, attempt + 1)
            if attempt < self._retries:
                await self._pause(attempt)
        raise ComfyUnavailable(f"{self.where} did not accept the prompt ({failure})")

    async def _find_submitted(self, prompt_id: str) -> SubmitResult | None:
        """Whether a prompt whose answer was lost is in fact queued, running or done."""
        queue = await self.queue()
        for entry in (*queue.running, *queue.pending):
            if entry.prompt_id == prompt_id:
                return SubmitResult(prompt_id=prompt_id, number=int(entry.number), recovered=True)
        if await self.history_entry(prompt_id) is not None:
            return SubmitResult(prompt_id=prompt_id, number=0, recovered=True)
        return None

    async def queue(self) -> QueueSnapshot:
        return parse_queue(await self._call("GET", "/queue"))

    async def delete_from_queue(self, *prompt_ids: str) -> None:
        """Remove pending prompts. ComfyUI ignores running ones (interrupt those) and unknown ids."""
        await self._call("POST", "/queue", json={"delete": list(prompt_ids)})

    async def clear_queue(self) -> None:
        """Remove every pending prompt; the running one continues."""
        await self._call("POST", "/queue", json={"clear": True})

    async def interrupt(self, prompt_id: str) -> None:
        """Interrupt this prompt if it is the one running; a no-op otherwise (never anyone else's)."""
        await self._call("POST", "/interrupt", json={"prompt_id": prompt_id})

    # ---- history ---------------------------------------------------------------------------------------

    async def history(self, *, max_items: int | None = None, offset: int | None = None) -> dict[str, HistoryEntry]:
        params = {k: str(v) for k, v in (("max_items", max_items), ("offset", offset)) if v is not None}
        return parse_history(await self._call("GET", "/history", params=params))

    async def history_entry(self, prompt_id: str) -> HistoryEntry | None:
        """The prompt's history, or `None` (ComfyUI answers `{}` for prompts it does not know)."""
        entries = parse_history(await self._call("GET", f"/history/{prompt_id}"))
        return entries.get(prompt_id)

    async def delete_history(self, *prompt_ids: str) -> None:
        await self._call("POST", "/history", json={"delete": list(prompt_ids)})

    async def clear_history(self) -> None:
        await self._call("POST", "/history", json={"clear": True})

    # ---- information -----------------------------------------------------------------------------------

    async def system_stats(self) -> SystemStats:
        return parse_system_stats(await self._call("GET", "/system_stats"))

    async def object_info(self, class_type: str | None = None) -> dict[str, NodeInfo]:
        """Every node class, or just one (an empty dict when the server has no such class)."""
        path = "/object_info" if class_type is None else f"/object_info/{class_type}"
        return parse_object_info(await self._call("GET", path))

    async def free(self, *, unload_models: bool = True, free_memory: bool = True) -> None:
        await self._call("POST", "/free", json={"unload_models": unload_models, "free_memory": free_memory})

    # ---- files -----------------------------------------------------------------------------------------

    async def iter_view(self, ref: FileRef, *, chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
        """The file's bytes in chunks, streamed. 404 -> `ComfyNotFound`; 400/403 -> `ComfyRejected`."""
        params = {"filename": ref.filename, "subfolder": ref.subfolder, "type": ref.type}
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self._timeout.total, sock_read=self._timeout.total)

        async def attempt() -> aiohttp.ClientResponse:
            response = await self._session.get(
                self.base_url + "/view", params=params, headers=self._headers, timeout=timeout, **NO_REDIRECTS
            )
            if 300 <= response.status < 400:
                response.release()
                not_redirected(response.status, "GET /view")
            if response.status >= 500:
                response.release()
                raise ServerError(response.status)
            return response

        async with await self._retrying(f"GET /view {ref.filename}", True, attempt) as response:
            raise_for_client_error(response.status, "GET", f"/view {ref.filename}")
            began, received = time.monotonic(), 0
            try:
                async for chunk in response.content.iter_chunked(chunk_size):
                    received += len(chunk)
                    elapsed = time.monotonic() - began
                    if elapsed > self.transfer_grace and received / elapsed < self.min_transfer_rate:
                        rate = f"{received / elapsed:.0f} B/s; at least {self.min_transfer_rate:.0f} B/s is needed"
                        raise ComfyUnavailable(f"{self.where} sends /view {ref.filename} too slowly ({rate})")
                    yield chunk
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
                raise ComfyUnavailable(f"{self.where} cut /view {ref.filename} short ({reason(exc)})") from exc

    async def _bounded(self, response: aiohttp.ClientResponse, what: str) -> bytes:
        """The reply's body, at most `max_reply_bytes` (a declared length past it is refused before reading)."""
        limit = self.max_reply_bytes
        if response.content_length is not None and response.content_length > limit:
            raise ComfyProtocolError(f"{self.where} {what}: the reply is larger than the limit of {limit:,} bytes")
        body = bytearray()
        async for chunk in response.content.iter_chunked(1 << 16):
            body += chunk
            if len(body) > limit:
                raise ComfyProtocolError(f"{self.where} {what}: the reply is larger than the limit of {limit:,} bytes")
        return bytes(body)

    async def view(self, ref: FileRef, *, max_bytes: int | None = None) -> bytes:
        """The whole file. `max_bytes` guards memory against a server sending far more than an image."""
        buffer = bytearray()
        async for chunk in self.iter_view(ref):
            buffer += chunk
            if max_bytes is not None and len(buffer) > max_bytes:
                raise ComfyProtocolError(
                    f"{self.where}: /view {ref.filename} is larger than the limit of {max_bytes:,} bytes"
                )
        return bytes(buffer)

    async def upload_image(
        self,
        data: bytes,
        filename: str,
        *,
        subfolder: str = "",
        type: str = "input",
        overwrite: bool = False,
        content_type: str = "image/png",
    ) -> UploadedFile:
        """Upload an image for LoadImage. ComfyUI may rename it (`name (1).png`): use the returned name."""
        form = aiohttp.FormData()
        form.add_field("image", data, filename=filename, content_type=content_type)
        form.add_field("type", type)
        if subfolder:
            form.add_field("subfolder", subfolder)
        if overwrite:
            form.add_field("overwrite", "true")
        # Same bytes under the same name deduplicate server-side, so a retry cannot make a second file.
        return parse_upload(await self._call("POST", "/upload/image", data=form, idempotent=not overwrite))


__all__ = ["ComfyClient", "ComfyError", "Graph", "redacted"]
