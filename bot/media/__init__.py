"""Media: what members attach and what ComfyUI makes, handled away from the event loop. `attachments.py` checks a
member's image or sound and re-encodes it as the bot's own; `fit.py` fits a result under Discord's upload limit
(images and animations with Pillow), `video_sound.py` re-encodes videos and sounds with PyAV (and opens media by
their first bytes only); `pool.py` runs all of it in worker processes of the bot's own (`worker.py`), capped in
memory and time, members taking turns."""
