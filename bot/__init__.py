"""A Discord bot for community servers that drives ComfyUI."""
