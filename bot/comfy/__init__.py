"""An async ComfyUI client: REST calls, one WebSocket per backend, typed events.

It knows nothing of Discord or jobs and imports nothing else from `bot`.
"""
