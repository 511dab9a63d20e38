"""The catalogues: one TOML file per language beside this module, every key in each (a test checks that).

Keys are dotted (`imagine.too_long`), values are `str.format` templates. A language missing a key falls back to
English; an unknown locale is English.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

DEFAULT_LOCALE = "en-US"
LOCALES = {"en-US": "en.toml", "zh-CN": "zh-CN.toml"}
_HERE = Path(__file__).parent


def _flatten(table: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


@cache
def catalogue(locale: str) -> dict[str, str]:
    """Every message of one language, by key."""
    with (_HERE / LOCALES[locale]).open("rb") as file:
        return _flatten(tomllib.load(file))


def supported(locale: str | None) -> str:
    """The catalogue's locale for a Discord locale ("zh-CN" stays, "en-GB" or None becomes English)."""
    return locale if locale in LOCALES else DEFAULT_LOCALE


def lookup(locale: str | None, key: str) -> str:
    messages = catalogue(supported(locale))
    if key in messages:
        return messages[key]
    return catalogue(DEFAULT_LOCALE)[key]
