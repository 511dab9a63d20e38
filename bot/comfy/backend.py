"""One ComfyUI server as the job engine sees it: submit a bound graph, get its events and one outcome."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

from .client import ComfyClient
from .errors import ComfyUnavailable
from .events import FileRef
from .models import UploadedFile
from .run import PromptRun
from .stream import ComfyStream


class ComfyBackend:
    """A REST client and the one WebSocket of a server, under a stable client id.

    Keep the client id across restarts (the database holds it): the reconnected socket then receives the
    events of prompts submitted before the restart, and `follow()` re-attaches to them."""

    def __init__(self, name: str, client: ComfyClient, stream: ComfyStream, *, connect_timeout: float = 10.0) -> None:
        self.name = name
        self.client = client
        self.stream = stream
        self._connect_timeout = connect_timeout

    @property
    def client_id(self) -> str:
        return self.stream.client_id

    def start(self) -> None:
        self.stream.start()

    async def close(self) -> None:
        await self.stream.close()

    async def submit(
        self,
        graph: Mapping[str, Any],
        *,
        prompt_id: str | None = None,
        front: bool = False,
    ) -> PromptRun:
        """Queue a graph and follow it. The prompt id is chosen here and subscribed to before posting, so a
        cached prompt that completes in milliseconds cannot outrun its subscriber.

        Raises `PromptRejected` when ComfyUI refuses the graph, `ComfyUnavailable` when it cannot be reached."""
        prompt_id = prompt_id or str(uuid.uuid4())
        try:  # without our socket the prompt's live events would go nowhere
            async with asyncio.timeout(self._connect_timeout):
                await self.stream.wait_connected()
        except TimeoutError:
            raise ComfyUnavailable(f"{self.client.where}: no WebSocket connection, prompt not submitted") from None
        run = self.stream.follow(prompt_id, submitted=False)
        connects = self.stream.connects
        self.stream.expect_echo()
        try:
            result = await self.client.submit(graph, client_id=self.client_id, prompt_id=prompt_id, front=front)
        except BaseException:
            run.discard()
            raise
        run.dropped_branches = result.node_errors
        run.submitted = True
        if connects != self.stream.connects or not self.stream.connected:
            self.stream.request_reconcile()  # a reconnect during the POST skipped this run: reconcile it now
        return run

    def follow(self, prompt_id: str) -> PromptRun:
        """Re-attach to a prompt submitted earlier (after a bot restart); it is reconciled at once."""
        return self.stream.follow(prompt_id, submitted=True)

    async def upload_image(
        self, data: bytes, filename: str, *, subfolder: str, overwrite: bool, content_type: str
    ) -> UploadedFile:
        """An image a workflow loads (LoadImage), under the name ComfyUI gives back."""
        return await self.client.upload_image(
            data, filename, subfolder=subfolder, overwrite=overwrite, content_type=content_type
        )

    async def fetch(self, ref: FileRef, *, max_bytes: int) -> bytes:
        """A result file (`/view`), at most `max_bytes`."""
        return await self.client.view(ref, max_bytes=max_bytes)

    async def cancel(self, prompt_id: str) -> bool:
        """Take one prompt off this server: deleted from its queue if it waits there, interrupted if it runs
        (that prompt only: `/interrupt` with its id is a no-op for any other). True when it was running and is
        being stopped (its run then ends interrupted); False when it was removed, or was not there."""
        client = self.client
        if not (await client.queue()).is_running(prompt_id):
            await client.delete_from_queue(prompt_id)
        if (await client.queue()).is_running(prompt_id):  # it runs (or started meanwhile)
            await client.interrupt(prompt_id)
            return True
        return False
