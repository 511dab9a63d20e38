"""Image bytes beside the database, not in its rows: a member's attachments (kept so a restarted bot can still
run the job, and a reroll use them again) and results held for /history, one file each in a folder next to
the database file, named by the bot, removed with their job."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from pathlib import Path

UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class FileShelf:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def name_for(*parts: object) -> str:
        return "-".join(UNSAFE.sub("_", str(part)) for part in parts)[:200]

    async def put(self, name: str, data: bytes) -> str:
        def write() -> None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / name).write_bytes(data)

        await asyncio.to_thread(write)
        return name

    async def get(self, name: str) -> bytes:
        return await asyncio.to_thread((self.folder / Path(name).name).read_bytes)

    async def drop(self, names: Iterable[str]) -> None:
        def remove() -> None:
            for name in names:
                (self.folder / Path(name).name).unlink(missing_ok=True)

        await asyncio.to_thread(remove)
