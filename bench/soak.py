"""Soak: community traffic against the bot as a real process, with faults on a schedule (`tests/soak.py`, which
`tests/test_soak.py` also runs, shortly, in CI); prints what happened to every job.

    .venv/bin/python -m bench.soak                  # the full soak: 3 backends, 50 members, 2,000 jobs
    .venv/bin/python -m bench.soak --jobs 300 --kills 1
    .venv/bin/python -m bench.soak --processes 2 --database postgres   # two processes on one PostgreSQL
    .venv/bin/python -m bench.soak --processes 2 --database postgres --shards   # each connects one shard
"""

from tests.soak import main

if __name__ == "__main__":
    main()
