"""One WebSocket per backend under a stable client id, one reader task, events routed by prompt id.

What the real server does that shapes this (recorded, see tests/fixtures):
- per-client events go only to the newest socket of a client id, and closing an older socket makes the server
  forget the id: so the old socket is always closed before a new one opens, and a socket that receives nothing
  after a submission (not even the `status` broadcast every submission causes) is reopened;
- nothing is replayed after a reconnect: every followed prompt is reconciled with `/queue` and `/history`;
- the server sends nothing while idle, so dead TCP is found with WebSocket pings (aiohttp's heartbeat);
- a long silence while prompts are in flight is reconciled, and the socket reopened in case it went deaf.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from dataclasses import replace
from typing import Any

import aiohttp

from .client import ComfyClient
from .errors import ComfyError
from .events import (
    Event,
    ExecutionStart,
    FeatureFlags,
    MalformedFrame,
    NodeText,
    PreviewImage,
    Progress,
    Status,
    parse_binary,
    parse_text,
)
from .run import PromptRun, RunLost, outcome_from_history

log = logging.getLogger(__name__)


class Redirected(aiohttp.ClientError):
    """The WebSocket handshake was answered with a redirect, which is never followed (see `_unredirected`)."""


async def _refuse_redirect(session: Any, context: Any, params: aiohttp.TraceRequestRedirectParams) -> None:
    raise Redirected(f"the WebSocket handshake was redirected ({params.response.status}); not followed")


def _unredirected(session: aiohttp.ClientSession) -> aiohttp.ClientSession:
    """A session on `session`'s connections for the WebSocket handshake that follows no redirect: aiohttp's
    ws_connect has no switch for it, and a redirect would carry a custom auth header (a proxy's token) to whatever
    host it names, on every reconnect (ComfyUI never redirects; REST refuses them too: answers.NO_REDIRECTS)."""
    trace = aiohttp.TraceConfig()
    trace.on_request_redirect.append(_refuse_redirect)
    return aiohttp.ClientSession(connector=session.connector, connector_owner=False, trace_configs=[trace])


FEATURE_FLAGS = {"type": "feature_flags", "data": {"supports_preview_metadata": True}}


class ComfyStream:
    def __init__(
        self,
        client: ComfyClient,
        client_id: str,
        *,
        heartbeat: float = 20.0,
        connect_timeout: float = 10.0,
        silence_timeout: float = 120.0,
        echo_timeout: float = 10.0,
        reconnect_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
        max_pending: int = 512,
        max_frame_bytes: int = 16 * 2**20,
    ) -> None:
        self.client = client
        self.client_id = client_id
        self.queue_remaining: int | None = None
        self.features: FeatureFlags | None = None
        self.frames = 0
        self.malformed = 0
        self.connects = 0
        self._heartbeat = heartbeat
        self._connect_timeout = connect_timeout
        self._silence_timeout = silence_timeout
        self._echo_timeout = echo_timeout
        self._reconnect_delay = reconnect_delay
        self._reconnect_max_delay = reconnect_max_delay
        self._max_pending = max_pending
        self._max_frame_bytes = max_frame_bytes  # previews are a few hundred KiB; a frame past this is hostile
        self._runs: dict[str, PromptRun] = {}
        self._current_prompt: str | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._handshakes: aiohttp.ClientSession | None = None  # for the handshake: no redirect followed
        self._connected = asyncio.Event()
        self._reconciler: asyncio.Task[None] | None = None
        self._reconcile_wanted = False
        self._reader: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._last_frame = time.monotonic()
        self._echo_deadline: float | None = None
        self._closed = False
        self._retry_now = asyncio.Event()  # the server answers again: stop waiting out the backoff

    # ---- lifecycle -------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def start(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read_forever(), name=f"comfy-stream {self.client.where}")
            self._watchdog = asyncio.create_task(self._watch(), name=f"comfy-watchdog {self.client.where}")

    async def close(self) -> None:
        self._closed = True
        tasks = [t for t in (self._reader, self._watchdog, self._reconciler) if t is not None]
        for task in tasks:
            task.cancel()
        if self._ws is not None:
            await self._ws.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._handshakes is not None:
            await self._handshakes.close()

    def retry_now(self) -> None:
        """The server is known to answer again (its health check passed): reconnect without waiting for the
        backoff, which after a long outage would otherwise keep the backend idle for up to its maximum."""
        self._retry_now.set()

    async def reconnect(self) -> None:
        """Drop the socket; the reader opens a new one and reconciles every followed prompt."""
        if self._ws is not None:
            await self._ws.close()

    # ---- subscriptions ---------------------------------------------------------------------------------

    def follow(self, prompt_id: str, *, submitted: bool) -> PromptRun:
        """Route this prompt's events to a new `PromptRun` (made before posting, so none can be missed)."""
        run = self._runs.get(prompt_id)
        if run is None:
            run = PromptRun(
                prompt_id,
                self.client.history_entry,
                self._forget,
                max_pending=self._max_pending,
                connection=lambda: self.connects,
            )
            self._runs[prompt_id] = run
        run.submitted = run.submitted or submitted
        if submitted:  # re-attached after a restart: it may have finished while nobody listened
            self.request_reconcile()
        return run

    def expect_echo(self) -> None:
        """A submission is about to be posted: some frame must arrive within `echo_timeout`."""
        if self._echo_deadline is None:
            self._echo_deadline = time.monotonic() + self._echo_timeout

    def _forget(self, run: PromptRun) -> None:
        if self._runs.get(run.prompt_id) is run:
            del self._runs[run.prompt_id]

    # ---- the reader ------------------------------------------------------------------------------------

    async def _read_forever(self) -> None:
        failures = 0
        while not self._closed:
            try:  # bounded: a pooled connection may be dead, and the handshake would wait on it for minutes
                async with asyncio.timeout(self._connect_timeout):
                    if self._handshakes is None:
                        self._handshakes = _unredirected(self.client.session)
                    ws = await self._handshakes.ws_connect(
                        self.client.ws_url(self.client_id),
                        headers=self.client.headers,
                        heartbeat=self._heartbeat,
                        timeout=aiohttp.ClientWSTimeout(ws_close=self._connect_timeout),
                        max_msg_size=self._max_frame_bytes,  # a larger frame closes the socket (1009)
                    )
            except (aiohttp.ClientError, TimeoutError) as exc:
                failures += 1
                ceiling = min(self._reconnect_max_delay, self._reconnect_delay * 2 ** min(failures, 16))
                delay = ceiling * (0.5 + random.random() / 2)  # jittered: many bots must not retry in step
                log.warning(
                    "%s: WebSocket connect failed (%s); again in %.1fs, or once it answers",
                    self.client.where,
                    exc,
                    delay,
                )
                self._retry_now.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._retry_now.wait(), delay)
                continue
            failures = 0
            try:
                await self._session(ws)
            finally:
                self._connected.clear()
                self._ws = None
                await ws.close()  # before any new socket under the same id (see the module docstring)
            if not self._closed:
                log.warning("%s: WebSocket closed (%s); reconnecting", self.client.where, ws.close_code)
                await asyncio.sleep(self._reconnect_delay * random.random())

    async def _session(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self.connects += 1
        self._last_frame = time.monotonic()
        self._echo_deadline = None
        await ws.send_json(FEATURE_FLAGS)  # must be the first message, or the server ignores it
        async for message in ws:
            if not self._connected.is_set():  # the first frame (`status` with our sid): we are registered
                self._connected.set()
                if self._runs:
                    self.request_reconcile()
            if message.type is aiohttp.WSMsgType.TEXT:
                self._on_frame(message.data, binary=False)
            elif message.type is aiohttp.WSMsgType.BINARY:
                self._on_frame(message.data, binary=True)
            elif message.type is aiohttp.WSMsgType.ERROR:
                log.warning("%s: WebSocket error %s", self.client.where, ws.exception())
                break

    def _on_frame(self, data: Any, *, binary: bool) -> None:
        self.frames += 1
        self._last_frame = time.monotonic()
        try:
            event = parse_binary(data) if binary else parse_text(data)
        except MalformedFrame as exc:
            self.malformed += 1
            log.warning("%s: ignored a malformed frame: %s", self.client.where, exc)
            return
        if not isinstance(event, FeatureFlags):  # a direct reply; anything else proves we are registered
            self._echo_deadline = None
        if event is not None:
            self.route(event)

    def route(self, event: Event) -> None:
        """Deliver one parsed event to the run it belongs to."""
        if isinstance(event, Status):
            self.queue_remaining = event.queue_remaining
            return
        if isinstance(event, FeatureFlags):
            self.features = event
            return
        if isinstance(event, NodeText):  # no prompt id: it belongs to the prompt running now
            prompt_id = self._current_prompt
        elif isinstance(event, PreviewImage) and event.prompt_id is None:  # type-1 preview: likewise
            prompt_id = self._current_prompt
            event = replace(event, prompt_id=prompt_id)
        else:
            prompt_id = event.prompt_id
            if isinstance(event, ExecutionStart | Progress) and prompt_id is not None:
                self._current_prompt = prompt_id
        run = self._runs.get(prompt_id) if prompt_id is not None else None
        if run is not None:
            run.push(event)

    # ---- reconciliation --------------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Settle every submitted prompt that is no longer in ComfyUI's queue, from its history.

        The queue is read first: ComfyUI writes history before it takes a prompt off the queue, so a prompt
        that is in neither is truly gone."""
        runs = [run for run in self._runs.values() if run.submitted and not run.done]
        if not runs:
            return
        try:
            queue = await self.client.queue()
            for run in runs:
                if queue.has(run.prompt_id):
                    continue
                entry = await self.client.history_entry(run.prompt_id)
                if entry is not None:
                    run.push(outcome_from_history(entry))
                else:
                    run.push(RunLost(run.prompt_id, "ComfyUI no longer has this prompt (restarted or deleted)"))
        except ComfyError as exc:
            log.warning("%s: could not reconcile %d prompt(s): %s", self.client.where, len(runs), exc)

    async def _watch(self) -> None:
        """Deafness and silence. A socket can stop hearing anything without closing (the server forgets our id
        when it notices late that an earlier socket died), so: no frame soon after a submission, or no frame
        for `silence_timeout` while prompts are in flight, means reconcile and reopen the socket cleanly."""
        tick = max(0.01, min(self._silence_timeout, self._echo_timeout) / 4)
        while not self._closed:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if self._echo_deadline is not None and now > self._echo_deadline and self._ws is not None:
                log.warning("%s: no frame after a submission; reopening the WebSocket", self.client.where)
                self._echo_deadline = None
                await self.reconnect()
            elif self._runs and now - self._last_frame > self._silence_timeout:
                self._last_frame = now
                await self.reconcile()
                if any(run.submitted and not run.done for run in self._runs.values()) and self._ws is not None:
                    log.warning("%s: silent with prompts in flight; reopening the WebSocket", self.client.where)
                    await self.reconnect()

    def request_reconcile(self) -> None:
        """Reconcile soon, in the background. Requests made while one runs fold into one more pass, so
        re-attaching many prompts at start-up costs one `/queue` read, not one per prompt."""
        self._reconcile_wanted = True
        if self._reconciler is None or self._reconciler.done():
            self._reconciler = asyncio.create_task(self._reconcile_while_wanted())

    async def _reconcile_while_wanted(self) -> None:
        while self._reconcile_wanted:
            self._reconcile_wanted = False
            await self.reconcile()
