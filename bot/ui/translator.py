"""Slash commands in every catalogue's language: discord.py asks, at sync, for each command, option and choice
name and description in each locale; the answer is looked up under a key made from where the string is.

Keys: `commands.<command path>.name` / `.description`, `commands.<command path>.options.<option>.name` /
`.description`, and `choices.<value>` (choices whose names are plain values, like "16:9", have no key).
"""

from __future__ import annotations

from typing import Any

from discord import Locale, app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.i18n import DEFAULT_LOCALE, LOCALES, catalogue


def key_of(context: app_commands.TranslationContextTypes) -> str | None:
    """The catalogue key of a command string, from where discord.py found it."""
    where, data = context.location, context.data
    found: Any = data  # which of discord.py's objects it is follows from the location
    if where in (Where.command_name, Where.group_name, Where.command_description, Where.group_description):
        path: str = "commands." + found.qualified_name.replace(" ", ".")
        return path + (".name" if where in (Where.command_name, Where.group_name) else ".description")
    if where in (Where.parameter_name, Where.parameter_description):
        path = "commands." + found.command.qualified_name.replace(" ", ".") + f".options.{found.name}"
        return path + (".name" if where is Where.parameter_name else ".description")
    if where is Where.choice_name:
        return f"choices.{found.value}"
    return None


class CatalogueTranslator(app_commands.Translator):
    async def translate(
        self, string: app_commands.locale_str, locale: Locale, context: app_commands.TranslationContextTypes
    ) -> str | None:
        language = str(locale)
        if language == DEFAULT_LOCALE or language not in LOCALES:
            return None  # the English in the code is the default Discord shows
        key = key_of(context)
        return catalogue(language).get(key) if key is not None else None
