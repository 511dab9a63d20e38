"""The store: one SQLite file (WAL) for jobs, their messages, outputs, held results and settings. All of the
bot's SQL is in this package: `sqlite.py` (the connection, jobs, settings), `records.py` (retention, export,
figures), `held.py` (results kept for /history), `schema.py` (the tables)."""

from .jobstore import JobStore, StoredReply, StoreError

__all__ = ["JobStore", "StoreError", "StoredReply"]
