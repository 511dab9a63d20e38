"""The store: jobs, their messages, outputs, held results and settings, in one SQLite file (WAL) or in PostgreSQL.
All of the bot's SQL is in this package: `jobstore.py` (jobs, replies, settings), `database.py` (SQLite or
PostgreSQL behind one interface), `batch.py` (writes committed together), `schema.py` and `migrations.py` (the
tables), `records.py` (retention, export, figures), `held.py` (results kept for /history), `files.py` (image
bytes beside the database), `copy.py` (SQLite into PostgreSQL), `lease.py` (the dispatcher lease) and
`relay.py` (events relayed between processes)."""

from .jobstore import JobStore, StoredReply, StoreError

__all__ = ["JobStore", "StoreError", "StoredReply"]
