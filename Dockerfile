# The bot in a container: a thin shell over scripts/setup.sh, the install the tests run (tests/test_scripts.py).
#   docker build -t comfy-discord-bot .
#   docker run --env-file .env -v comfybot-data:/data comfy-discord-bot          (or: docker compose up -d)
# Settings come from the environment (see .env.example); the database and results live in the /data volume.
FROM python:3.12-slim
RUN useradd --create-home --uid 10001 bot && mkdir /data && chown bot:bot /data
WORKDIR /app
COPY --chown=bot:bot pyproject.toml README.md LICENSE .env.example ./
COPY --chown=bot:bot bot ./bot
COPY --chown=bot:bot scripts ./scripts
COPY --chown=bot:bot workflows ./workflows
USER bot
RUN bash -c 'source scripts/setup.sh'
ENV DATABASE__PATH=/data/bot.sqlite3 \
    TEMPLATES__DIR=/app/workflows \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
# /metrics, /healthz and /readyz when METRICS__ENABLED=true (and METRICS__HOST=0.0.0.0 to publish the port)
EXPOSE 9108
STOPSIGNAL SIGTERM
CMD [".venv/bin/python", "-m", "bot"]
