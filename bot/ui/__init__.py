"""What members see, built here and fitted to Discord's limits here: job messages and their routes
(`job_messages.py`, `message_target.py`), embeds (`render.py`, `panels.py`, `fit.py`), buttons and forms
(`buttons.py`), the edit budget (`presenter.py`), mentions that never ping (`mentions.py`), and command names per
language (`translator.py`)."""
