"""What Discord refuses in a request body, as Discord refuses it: messages, embeds, components, modals, and
application command registration. Each check raises `Refused` with Discord's own status and error code.

Sources (Discord's developer documentation, docs.discord.com/developers):
- resources/message#create-message: content up to 2000 characters; one of content, embeds, sticker_ids,
  components, files or poll is required, else 50006 "Cannot send an empty message".
- resources/message#embed-object-embed-limits: title 256, description 4096, up to 25 fields, field name 256 and
  value 1024 (both required: a field with an empty or whitespace-only name or value is refused), footer text
  2048, author name 256, 6000 characters across all embeds of a message, up to 10 embeds.
- components/reference: up to 5 action rows, up to 5 buttons in a row (a select menu fills its row alone),
  custom_id 1-100 characters and unique within a message, button label up to 80, select menus up to 25 options
  whose label, value and description are up to 100; modals: title up to 45, 1-5 components, text input label
  up to 45, value up to 4000.
- interactions/application-commands#application-command-object-application-command-naming: names (and their
  localizations) match ^[-_\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]{1,32}$ and are lowercase where the letter has a
  lowercase form; descriptions 1-100; up to 25 options and 25 choices; required options before optional ones.
- topics/opcodes-and-status-codes#json: 50035 Invalid Form Body, 50006 empty message.
Invalid bodies are answered 400 with code 50035 and an `errors` object naming the field, as Discord does.
"""

from __future__ import annotations

import unicodedata
from typing import Any

Json = dict[str, Any]

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
EMBED_LIMITS = {"title": 256, "description": 4096}
FIELDS_MAX, FIELD_NAME_MAX, FIELD_VALUE_MAX = 25, 256, 1024
FOOTER_MAX, AUTHOR_MAX = 2048, 256
ROWS_MAX, BUTTONS_PER_ROW = 5, 5
CUSTOM_ID_MAX, LABEL_MAX = 100, 80
SELECT_OPTIONS_MAX, SELECT_TEXT_MAX = 25, 100
MODAL_TITLE_MAX, MODAL_INPUTS_MAX, INPUT_LABEL_MAX, INPUT_VALUE_MAX = 45, 5, 45, 4000
COMMAND_NAME_MAX, DESCRIPTION_MAX, OPTIONS_MAX, CHOICES_MAX = 32, 100, 25, 25
ACTION_ROW, BUTTON, TEXT_INPUT = 1, 2, 4
SELECTS = (3, 5, 6, 7, 8)
LINK_BUTTON = 5
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2


class Refused(Exception):
    """Discord's answer to a request it will not carry out."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def invalid(where: str, why: str) -> Refused:
    return Refused(400, 50035, f"Invalid Form Body: {where}: {why}")


def _length(value: Any, where: str, maximum: int, *, minimum: int = 0) -> int:
    if value is None:
        if minimum:
            raise invalid(where, "This field is required")
        return 0
    if not isinstance(value, str):
        raise invalid(where, "Must be a string")
    if len(value) > maximum:
        raise invalid(where, f"Must be {maximum} or fewer in length.")
    if len(value) < minimum:
        raise invalid(where, f"Must be between {minimum} and {maximum} in length.")
    return len(value)


# ---- messages ----------------------------------------------------------------------------------------------


def check_message(data: Json) -> None:
    """The parts of a message body that are checked on their own (emptiness is checked on the result)."""
    _length(data.get("content"), "content", CONTENT_MAX)
    if data.get("embeds") is not None:
        check_embeds(data["embeds"])
    if data.get("components") is not None:
        check_components(data["components"])


def check_not_empty(content: str, embeds: list[Json], files: int, components: list[Json]) -> None:
    if not content and not embeds and not files and not components:
        raise Refused(400, 50006, "Cannot send an empty message")


def check_embeds(embeds: list[Json]) -> None:
    if len(embeds) > EMBEDS_MAX:
        raise invalid("embeds", f"Must be {EMBEDS_MAX} or fewer in length.")
    total = 0
    for n, embed in enumerate(embeds):
        where = f"embeds.{n}"
        for key, maximum in EMBED_LIMITS.items():
            total += _length(embed.get(key), f"{where}.{key}", maximum)
        if embed.get("footer") is not None:
            total += _length(embed["footer"].get("text"), f"{where}.footer.text", FOOTER_MAX, minimum=1)
        if embed.get("author") is not None:
            total += _length(embed["author"].get("name"), f"{where}.author.name", AUTHOR_MAX, minimum=1)
        fields = embed.get("fields") or []
        if len(fields) > FIELDS_MAX:
            raise invalid(f"{where}.fields", f"Must be {FIELDS_MAX} or fewer in length.")
        for m, field in enumerate(fields):
            for key, maximum in (("name", FIELD_NAME_MAX), ("value", FIELD_VALUE_MAX)):
                text = field.get(key)
                total += _length(text, f"{where}.fields.{m}.{key}", maximum, minimum=1)
                if not text.strip():
                    raise invalid(f"{where}.fields.{m}.{key}", "This field is required")
    if total > EMBED_TOTAL_MAX:
        raise invalid("embeds", f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}")


def check_components(rows: list[Json]) -> None:
    if len(rows) > ROWS_MAX:
        raise invalid("components", f"Must be {ROWS_MAX} or fewer in length.")
    seen: set[str] = set()
    for n, row in enumerate(rows):
        where = f"components.{n}"
        if row.get("type") != ACTION_ROW:
            raise invalid(f"{where}.type", "Top-level components must be action rows")
        children = row.get("components") or []
        if not children:
            raise invalid(f"{where}.components", "Must be between 1 and 5 in length.")
        if any(c.get("type") in SELECTS for c in children) and len(children) > 1:
            raise invalid(f"{where}.components", "A select menu must be alone in its row")
        if len(children) > BUTTONS_PER_ROW:
            raise invalid(f"{where}.components", f"Must be {BUTTONS_PER_ROW} or fewer in length.")
        for m, child in enumerate(children):
            _check_child(child, f"{where}.components.{m}", seen)


def _custom_id(component: Json, where: str, seen: set[str]) -> None:
    custom_id = str(component.get("custom_id") or "")
    _length(custom_id or None, f"{where}.custom_id", CUSTOM_ID_MAX, minimum=1)
    if custom_id in seen:
        raise invalid(f"{where}.custom_id", "Component custom id cannot be duplicated")
    seen.add(custom_id)


def _check_child(child: Json, where: str, seen: set[str]) -> None:
    kind = child.get("type")
    if kind == BUTTON:
        _length(child.get("label"), f"{where}.label", LABEL_MAX)
        if not child.get("label") and not child.get("emoji"):
            raise invalid(where, "A button needs a label or an emoji")
        if child.get("style") == LINK_BUTTON:
            _length(child.get("url"), f"{where}.url", 512, minimum=1)
        else:
            _custom_id(child, where, seen)
    elif kind in SELECTS:
        _custom_id(child, where, seen)
        _length(child.get("placeholder"), f"{where}.placeholder", 150)
        options = child.get("options") or []
        if kind == 3 and not 1 <= len(options) <= SELECT_OPTIONS_MAX:
            raise invalid(f"{where}.options", f"Must be between 1 and {SELECT_OPTIONS_MAX} in length.")
        values: set[str] = set()
        for k, option in enumerate(options):
            for key in ("label", "value"):
                _length(option.get(key), f"{where}.options.{k}.{key}", SELECT_TEXT_MAX, minimum=1)
            _length(option.get("description"), f"{where}.options.{k}.description", SELECT_TEXT_MAX)
            if option["value"] in values:
                raise invalid(f"{where}.options.{k}.value", "Select option values must be unique")
            values.add(option["value"])
        if not 0 <= child.get("min_values", 1) <= child.get("max_values", 1) <= max(1, len(options)):
            raise invalid(f"{where}.max_values", "Out of range")
    else:
        raise invalid(f"{where}.type", "Not a component that may appear in a message's action row")


def check_modal(data: Json) -> None:
    _length(data.get("title"), "data.title", MODAL_TITLE_MAX, minimum=1)
    _length(data.get("custom_id"), "data.custom_id", CUSTOM_ID_MAX, minimum=1)
    rows = data.get("components") or []
    if not 1 <= len(rows) <= MODAL_INPUTS_MAX:
        raise invalid("data.components", f"Must be between 1 and {MODAL_INPUTS_MAX} in length.")
    seen: set[str] = set()
    for n, row in enumerate(rows):
        where = f"data.components.{n}"
        children = row.get("components") or []
        if row.get("type") != ACTION_ROW or len(children) != 1 or children[0].get("type") != TEXT_INPUT:
            raise invalid(where, "Each row of a modal holds one text input")
        field = children[0]
        _custom_id(field, f"{where}.components.0", seen)
        _length(field.get("label"), f"{where}.components.0.label", INPUT_LABEL_MAX, minimum=1)
        _length(field.get("value"), f"{where}.components.0.value", INPUT_VALUE_MAX)
        _length(field.get("placeholder"), f"{where}.components.0.placeholder", 100)
        low, high = field.get("min_length", 0), field.get("max_length", INPUT_VALUE_MAX)
        if not 0 <= low <= high <= INPUT_VALUE_MAX:
            raise invalid(f"{where}.components.0.max_length", f"Must be between 1 and {INPUT_VALUE_MAX}.")
        if field.get("value") and not low <= len(field["value"]) <= high:
            raise invalid(f"{where}.components.0.value", "The value does not fit min_length and max_length")


# ---- application commands ----------------------------------------------------------------------------------


def _name_character(c: str) -> bool:
    if c in "-_" or unicodedata.category(c)[0] in "LN":
        return True
    return unicodedata.category(c)[0] == "M" and unicodedata.name(c, "").startswith(("DEVANAGARI", "THAI"))


def check_name(name: Any, where: str) -> None:
    _length(name, where, COMMAND_NAME_MAX, minimum=1)
    if not all(_name_character(c) for c in name):
        raise invalid(where, "Command name is invalid")
    if name != name.lower():
        raise invalid(where, "Command name must be lowercase")


def _check_described(item: Json, where: str) -> None:
    check_name(item.get("name"), f"{where}.name")
    for locale, localized in (item.get("name_localizations") or {}).items():
        check_name(localized, f"{where}.name_localizations.{locale}")
    _length(item.get("description"), f"{where}.description", DESCRIPTION_MAX, minimum=1)
    for locale, localized in (item.get("description_localizations") or {}).items():
        _length(localized, f"{where}.description_localizations.{locale}", DESCRIPTION_MAX, minimum=1)


def _check_options(options: list[Json], where: str) -> None:
    if len(options) > OPTIONS_MAX:
        raise invalid(where, f"Must be {OPTIONS_MAX} or fewer in length.")
    names = [o.get("name") for o in options]
    if len(set(names)) != len(names):
        raise invalid(where, "Option names must be unique")
    optional_seen = False
    for n, option in enumerate(options):
        here = f"{where}.{n}"
        _check_described(option, here)
        if option.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP):
            _check_options(option.get("options") or [], f"{here}.options")
            continue
        if option.get("required"):
            if optional_seen:
                raise invalid(f"{here}.required", "Required options must be placed before non-required options")
        else:
            optional_seen = True
        choices = option.get("choices") or []
        if len(choices) > CHOICES_MAX:
            raise invalid(f"{here}.choices", f"Must be {CHOICES_MAX} or fewer in length.")
        for k, choice in enumerate(choices):
            _length(choice.get("name"), f"{here}.choices.{k}.name", 100, minimum=1)
            for locale, localized in (choice.get("name_localizations") or {}).items():
                _length(localized, f"{here}.choices.{k}.name_localizations.{locale}", 100, minimum=1)
            if isinstance(choice.get("value"), str):
                _length(choice["value"], f"{here}.choices.{k}.value", 100, minimum=1)


def check_commands(commands: list[Json]) -> None:
    """A bulk overwrite of application commands (PUT .../commands)."""
    names = [(c.get("type", 1), c.get("name")) for c in commands]
    # interactions/application-commands#registering-a-command: up to 100 slash commands, 15 user and 15 message
    # ones; the spec's one number (130 in all) is the sum, so each kind is held to its own, the stricter rule
    for kind, most in ((1, 100), (2, 15), (3, 15)):
        if sum(1 for k, _ in names if k == kind) > most:
            raise invalid("commands", f"Must be {most} or fewer commands of type {kind}.")
    if len(set(names)) != len(names):
        raise invalid("commands", "Application command names must be unique")
    for n, command in enumerate(commands):
        where = f"{n}"
        if command.get("type", 1) == 1:
            _check_described(command, where)
            _check_options(command.get("options") or [], f"{where}.options")
        else:
            _length(command.get("name"), f"{where}.name", COMMAND_NAME_MAX, minimum=1)
