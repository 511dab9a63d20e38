"""The database's tables (in SQLite's types; `migrations.py` gives them to PostgreSQL in its own), and the
columns added since the first release."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    guild_id INTEGER,
    channel_id INTEGER NOT NULL,
    message_id INTEGER,
    reply_token TEXT,
    template TEXT NOT NULL,
    graph TEXT NOT NULL,
    params TEXT NOT NULL,
    output_nodes TEXT NOT NULL,
    image_targets TEXT NOT NULL,
    seed INTEGER,
    state TEXT NOT NULL,
    backend TEXT,
    prompt_id TEXT,
    attempts INTEGER NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    error TEXT,
    outputs TEXT,
    kind TEXT NOT NULL DEFAULT 'imagine',
    parent_id TEXT,
    note TEXT,
    spoiler INTEGER NOT NULL DEFAULT 0,
    locale TEXT NOT NULL DEFAULT 'en-US',
    private INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS jobs_open ON jobs (state) WHERE finished IS NULL;
CREATE INDEX IF NOT EXISTS jobs_message ON jobs (message_id);
CREATE TABLE IF NOT EXISTS job_images (
    job_id TEXT NOT NULL,
    param TEXT NOT NULL,
    filename TEXT NOT NULL,
    data BLOB NOT NULL,
    file TEXT,
    PRIMARY KEY (job_id, param)
);
CREATE TABLE IF NOT EXISTS held_results (
    job_id TEXT NOT NULL,
    user_id INTEGER NOT NULL,
    n INTEGER NOT NULL,
    filename TEXT NOT NULL,
    data BLOB NOT NULL,
    file TEXT,
    PRIMARY KEY (job_id, n)
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS member_settings (
    user_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);
CREATE TABLE IF NOT EXISTS guild_settings (
    guild_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (guild_id, key)
);
"""
# Columns added after the first release, which a SQLite database from before numbered migrations may lack:
# added at its first open since (migration 1)
LEGACY_COLUMNS = (  # (table, column, declaration)
    ("jobs", "kind", "TEXT NOT NULL DEFAULT 'imagine'"),
    ("jobs", "parent_id", "TEXT"),
    ("jobs", "note", "TEXT"),
    ("jobs", "spoiler", "INTEGER NOT NULL DEFAULT 0"),
    ("jobs", "locale", "TEXT NOT NULL DEFAULT 'en-US'"),
    ("jobs", "private", "INTEGER NOT NULL DEFAULT 0"),
    # image bytes moved out of the rows into files beside the database (files.py); `data` stays for old rows
    ("job_images", "file", "TEXT"),
    ("held_results", "file", "TEXT"),
)
