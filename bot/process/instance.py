"""One bot process per database: a second one would run queued jobs twice, make two rerolls of one reaction,
and take the ComfyUI WebSocket (one client id) from the first. An exclusive lock on a file beside the database,
held while the process lives (the operating system releases it when the process ends, even on SIGKILL)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from ..jobs.store import StoreError


class InstanceLock:
    def __init__(self, database: Path) -> None:
        # beside the file itself, not the name it was given: a symlink or another path to the same file is the
        # same database, and takes the same lock
        real = database.resolve()
        self.path = real.with_name(real.name + ".lock")
        self._file: IO[str] | None = None

    def acquire(self) -> InstanceLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+")  # noqa: SIM115  (held open for the life of the process)
        except OSError as exc:  # the folder cannot be made (a file in the way, no permission, a full disk)
            where = self.path.with_name(self.path.name.removesuffix(".lock"))
            raise StoreError(
                f"the database {where} cannot be created: {exc.strerror or exc} ({exc.filename or where}); "
                "set DATABASE__PATH to a file in a folder this user may write"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise StoreError(
                f"another bot process (pid {holder}) is using {self.path.with_suffix('')}; stop it first, "
                "or give this one its own DATABASE__PATH"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
