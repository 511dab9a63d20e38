"""Logging set-up: plain text for people or one JSON object per line for collectors."""

from __future__ import annotations

import json
import logging
import re
from typing import Literal

CONTEXT = ("job_id", "prompt_id", "user_id", "guild_id", "backend")  # given as `extra=` by the engine
# Interaction tokens in Discord's routes (/interactions/{id}/{token}/callback, /webhooks/{app}/{token}): anyone
# holding one can answer as the bot for 15 minutes. discord.py logs routes at DEBUG.
TOKENS = re.compile(r"(/(?:interactions|webhooks)/\d+/)[^/\s?'\"]+")
# ... and in the gateway events discord.py dumps at DEBUG ({'token': '...'} in an INTERACTION_CREATE)
TOKEN_FIELDS = re.compile(r"""(['"]token['"]:\s*['"])[^'"]+""")
# user:password in any URL
CREDENTIALS = re.compile(r"(\w+://)[^/\s:@]+:[^/\s@]+@")
# Loggers whose DEBUG lines quote data wholesale (aiosqlite: every statement with its parameters, tokens and
# image bytes among them): kept at INFO whatever the level asked for.
QUOTING = ("aiosqlite",)


def redact(text: str) -> str:
    text = TOKEN_FIELDS.sub(r"\1<token>", TOKENS.sub(r"\1<token>", text))
    return CREDENTIALS.sub(r"\1<redacted>@", text)


class Redacting(logging.Filter):
    """Secrets never reach a log line: interaction tokens and passwords in URLs are replaced, in the message
    and in what it quotes (arguments and tracebacks are formatted first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, style: Literal["plain", "json"]) -> None:
    handler = logging.StreamHandler()
    if style == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(Redacting())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in QUOTING:
        logging.getLogger(name).setLevel(max(logging.getLevelName(level), logging.INFO))
