"""What is wrong with the settings, said for the person running the bot: each problem names its variable
(`COMFY__BACKENDS (item 1: url)`) and what it expects, without echoing the value (it may be a secret)."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

_EXPECTED = {
    "missing": "is required",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "int_parsing": "must be a whole number",
    "float_parsing": "must be a number",
    "literal_error": "must be one of {expected}",
    "too_short": "must have at least {min_length} item(s)",
}


def variable_name(loc: tuple[int | str, ...]) -> str:
    """`("comfy", "backends", 0, "url")` -> `COMFY__BACKENDS (item 1: url)`."""
    names: list[str] = []
    detail: list[str] = []
    for part in loc:
        if isinstance(part, int):
            detail.append(f"item {part + 1}")
        elif detail:
            detail.append(part)
        else:
            names.append(part.upper())
    var = "__".join(names)
    return f"{var} ({': '.join(detail)})" if detail else var


def _required_in(loc: tuple[int | str, ...], settings: type[BaseModel]) -> list[str]:
    """The variables without a default inside the group at `loc` (or the group's own name)."""
    group = settings.model_fields[str(loc[0])].annotation
    if isinstance(group, type) and issubclass(group, BaseModel):
        names = [name for name, field in group.model_fields.items() if field.is_required()]
        return [variable_name((*loc, name)) for name in names]
    return [variable_name(loc)]


RENAMED = {  # settings that changed their name, so an operator's old .env is told the new one
    "DISCORD__CHANNEL_EDITS": "DISCORD__BUCKET_EDITS",
    "DISCORD__CHANNEL_WINDOW": "DISCORD__BUCKET_WINDOW",
}


def describe(error: ValidationError, settings: type[BaseModel]) -> str:
    """One line per problem, naming the variable and what it expects; never the value (it may be a secret)."""
    lines: list[str] = []
    for item in error.errors(include_input=False, include_url=False):
        kind = item["type"]
        ctx = item.get("ctx", {})
        if kind == "missing" and len(item["loc"]) == 1:
            # A whole group is absent: name the variables inside it that have no default.
            lines.extend(f"  {name} is required" for name in _required_in(item["loc"], settings))
            continue
        if kind == "value_error":
            expected = f"must be {ctx.get('error', item['msg'])}"
        elif kind in _EXPECTED:
            expected = _EXPECTED[kind].format(**{k: str(v) for k, v in ctx.items()})
        elif kind == "extra_forbidden" and (renamed := RENAMED.get(variable_name(item["loc"]))):
            expected = f"is now {renamed}"
        else:
            expected = item["msg"].lower()
        if kind == "value_error" and len(item["loc"]) <= 1:  # a rule across variables: its message names them
            lines.append(f"  {ctx.get('error', item['msg'])}")
            continue
        lines.append(f"  {variable_name(item['loc'])} {expected}")
    return "Configuration error (see .env.example):\n" + "\n".join(lines)
