"""The operator's commands (`cli.py`: check, invite, templates, run, export, copy-database) and what `check` and
`invite` ask Discord over REST (`discord_rest.py`)."""
