"""A real PostgreSQL for the tests, on 127.0.0.1: a cluster made with `initdb` in a temporary folder and started
with `pg_ctl` on a free port, stopped at the end. PostgreSQL refuses to run as root; as root, the server runs as
the `postgres` user the Debian package creates. Where no PostgreSQL is installed the tests that need it are
skipped with the reason, except in CI (`CI` set), where `.ci/run` installs it and its absence is a failure."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BIN_DIRS = [Path(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def missing() -> str | None:
    """Why no PostgreSQL can be started here, or None."""
    for tool in ("initdb", "pg_ctl"):
        if _tool(tool) is None:
            return f"PostgreSQL's {tool} is not installed (Debian: apt-get install postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root, and runuser is not there to start PostgreSQL as the postgres user"
    return None


@contextmanager
def running_postgres() -> Iterator[str]:
    """A fresh cluster; yields its URL (user `bot`, no password, database `bot`)."""
    folder = Path(tempfile.mkdtemp(prefix="bot-pg-"))
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(folder, "postgres", "postgres")

    def run(*command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    data, port = folder / "data", _free_port()
    initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
    assert initdb and pg_ctl
    try:
        run(initdb, "-D", str(data), "-U", "bot", "-A", "trust", "--no-sync", "-E", "UTF8")
        options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={folder} -c fsync=off"
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start")
        try:
            run(_tool("createdb") or "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "bot", "bot")
            yield f"postgresql://bot@127.0.0.1:{port}/bot"
        finally:
            run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
