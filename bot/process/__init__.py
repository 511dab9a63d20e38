"""One bot process's life: the running bot's parts and its roles (`app.py`: alone on SQLite under a file lock,
`instance.py`; a standby then the holder of the dispatcher lease; a shard that relays to the holder,
`relaying.py`), the event loop (`event_loop.py`), logs (`logs.py`), metrics and health (`metrics.py`), and the
garbage collector's settings (`collector.py`)."""
