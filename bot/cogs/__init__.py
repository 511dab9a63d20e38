"""Discord's side of every member action: the slash commands, buttons, forms and reactions (one cog each idea:
imagine, results, reactions, queue, config, member settings, info), which turn an interaction into a request to
`jobs/` and its answer into a reply (`replies.py`, `failures.py`)."""
