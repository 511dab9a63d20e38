"""The store: one SQLite file (WAL) for jobs, their messages, outputs, held results and settings. All of the
bot's SQL is in this package: `sqlite.py` (the connection, jobs, settings), `records.py` (retention, export,
figures), `held.py` (results kept for /history), `schema.py` (the tables)."""

from .sqlite import SqliteJobStore, StoredReply, StoreError

__all__ = ["SqliteJobStore", "StoreError", "StoredReply"]
