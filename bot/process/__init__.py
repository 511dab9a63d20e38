"""One bot process's life: its role, chosen once at start (`roles.py`: alone on SQLite under a file lock,
`instance.py`; a standby then the holder of the dispatcher lease; a shard that relays to the holder,
`relaying.py`), the running bot's parts (`app.py`), the event loop (`event_loop.py`), logs (`logs.py`), metrics
and health (`metrics.py`), and the garbage collector's settings (`collector.py`)."""
