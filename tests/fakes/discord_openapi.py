"""Discord's own description of its HTTP API (OpenAPI 3.1, `tests/fixtures/discord-api-spec/`) as the fake's
contract: every request body is validated against the request schema of its route and method, and is refused as
Discord refuses it (400, code 50035 "Invalid Form Body", the failing fields under `errors` with their `_errors`);
answers can be validated against the response schemas (the fake's own tests do).

Where the spec and the developer documentation disagree, the stricter documented rule is kept by `discord_rules`
beside this (the spec allows 4000 characters of message content where the documentation says 2000 for a bot, and
40 top-level components where the documentation allows 5 action rows outside components V2): a request passes
both. Two JSON Schema validators (Draft 2020-12, which OpenAPI 3.1 schemas are) do the checking: jsonschema-rs
decides whether a body fits (compiled, about 700 times faster: every request of every test is checked), and
jsonschema words what does not fit, as Discord's error body; the fake's own tests hold the two to one verdict.
"""

from __future__ import annotations

import functools
import gzip
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_FILE = Path(__file__).resolve().parent.parent / "fixtures" / "discord-api-spec" / "openapi.json.gz"
ROOT = "urn:discord-openapi"


@functools.cache
def spec() -> dict[str, Any]:
    with gzip.open(SPEC_FILE, "rt", encoding="utf-8") as file:
        loaded: dict[str, Any] = json.load(file)
    return loaded


@functools.cache
def _contents(*, requests: bool = False) -> dict[str, Any]:
    """The spec as schemas. For requests, a snowflake may also be a JSON integer: the spec types it as a numeric
    string, but Discord takes integers where it takes ids (discord.py sends a new attachment's id as the integer 0,
    1, ..., and has since attachments became objects in v10). A non-numeric id is refused either way."""
    contents = spec()
    if requests:
        contents = json.loads(json.dumps(contents))
        snowflake = contents["components"]["schemas"]["SnowflakeType"]
        contents["components"]["schemas"]["SnowflakeType"] = {"anyOf": [snowflake, {"type": "integer", "minimum": 0}]}
    return contents


@functools.cache
def registry(*, requests: bool = False) -> Registry[Any]:
    """The spec as jsonschema's registry."""
    made: Registry[Any] = Registry().with_resource(
        ROOT, Resource.from_contents(_contents(requests=requests), default_specification=DRAFT202012)
    )
    return made


@functools.cache
def _fast_registry() -> jsonschema_rs.Registry:
    return jsonschema_rs.Registry([(ROOT, _contents(requests=True))])


@functools.cache
def fast_validator(pointer: str) -> jsonschema_rs.Draft202012Validator:
    """jsonschema-rs's validator of one request schema: whether a body fits."""
    reference = f"{ROOT}#{quote(pointer, safe='/~')}"  # a URI: the path's braces percent-encoded
    return jsonschema_rs.Draft202012Validator({"$ref": reference}, registry=_fast_registry())


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # the spec's path, as "/channels/{channel_id}/messages"
    pattern: re.Pattern[str]
    literal: int  # how many of its segments are literal: the most specific route wins ("@me" over "{user_id}")


@functools.cache
def _operations() -> tuple[Operation, ...]:
    found = []
    for template, item in spec()["paths"].items():
        regex = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        literal = sum(1 for part in template.split("/") if part and not part.startswith("{"))
        for method in item:
            if method in ("get", "put", "post", "patch", "delete"):
                found.append(Operation(method.upper(), template, re.compile(regex), literal))
    return tuple(sorted(found, key=lambda o: -o.literal))


def operation(method: str, path: str) -> Operation | None:
    """The spec's operation for a request (`path` after /api/v10, query excluded)."""
    path = "/" + path.lstrip("/")
    return next((o for o in _operations() if o.method == method and o.pattern.match(path)), None)


@functools.cache
def _validator(pointer: str, *, requests: bool = False) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"{ROOT}#{pointer}"}, registry=registry(requests=requests))


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _request_schema(method: str, path: str) -> str | None:
    """Where the spec's schema of a request's JSON body is (a JSON pointer); None when the route takes none."""
    found = operation(method, path)
    if found is None:
        return None
    content = (spec()["paths"][found.template][found.method.lower()].get("requestBody") or {}).get("content") or {}
    if "application/json" not in content:
        return None
    return "/paths/" + _escape(found.template) + f"/{found.method.lower()}/requestBody/content/application~1json/schema"


def request_errors(method: str, path: str, body: Any) -> list[ValidationError]:
    """Why the spec refuses this JSON body (the `payload_json` of a multipart one); [] when it does not, or when
    the route takes no body."""
    pointer = _request_schema(method, path)
    if pointer is None or body is None or fast_validator(pointer).is_valid(body):
        return []
    return list(_validator(pointer, requests=True).iter_errors(body))


def verdicts(method: str, path: str, body: Any) -> tuple[bool, bool] | None:
    """Whether each validator takes this body (jsonschema-rs's, jsonschema's): the fake's tests hold them to one
    verdict. None when the route takes no JSON body."""
    pointer = _request_schema(method, path)
    if pointer is None or body is None:
        return None
    return fast_validator(pointer).is_valid(body), _validator(pointer, requests=True).is_valid(body)


def answer_errors(method: str, path: str, status: int, body: Any) -> list[str]:
    """Why this answer does not fit the spec's response schema for its route and status: each most specific
    failure, as `where: why`."""
    return [
        f"{'/'.join(str(p) for p in leaf.absolute_path)}: {leaf.message[:160]}"
        for error in _answer_errors(method, path, status, body)
        for leaf in _leaves(error)
    ]


def _answer_errors(method: str, path: str, status: int, body: Any) -> list[ValidationError]:
    found = operation(method, path)
    if found is None:
        return []
    responses = spec()["paths"][found.template][found.method.lower()].get("responses") or {}
    key = str(status) if str(status) in responses else "4XX" if 400 <= status < 500 and "4XX" in responses else None
    if key is None:
        return []
    answer = responses[key]
    if "$ref" in answer:  # a shared response (#/components/responses/NAME)
        shared = answer["$ref"].rsplit("/", 1)[1]
        answer, where = spec()["components"]["responses"][shared], f"/components/responses/{shared}"
    else:
        where = "/paths/" + _escape(found.template) + f"/{found.method.lower()}/responses/{key}"
    if "application/json" not in (answer.get("content") or {}):
        return []
    return list(_validator(where + "/content/application~1json/schema").iter_errors(body))


def _leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The most specific failures: inside `anyOf`/`oneOf`, those of the branch that came closest."""
    if error.context:
        branches: dict[Any, list[ValidationError]] = {}
        for inner in error.context:
            branches.setdefault(inner.relative_schema_path[0], []).append(inner)
        # the branch that came closest: the fewest failures (a component of another type fails on several), then
        # the deepest one
        closest = min(branches.values(), key=lambda b: (len(b), -max(len(e.absolute_path) for e in b)))
        for inner in closest:
            yield from _leaves(inner)
    else:
        yield error


def error_body(errors: list[ValidationError]) -> dict[str, Any]:
    """Discord's error shape for an invalid form body: each failing field, nested by its path, with `_errors`
    (reference#error-messages)."""
    details: dict[str, Any] = {}
    for error in errors:
        for leaf in _leaves(error):
            node = details
            for part in leaf.absolute_path:
                node = node.setdefault(str(part), {})
            node.setdefault("_errors", []).append({"code": _code(leaf), "message": _message(leaf)})
    return {"code": 50035, "errors": details, "message": "Invalid Form Body"}


def _code(error: ValidationError) -> str:
    return {
        "maxLength": "BASE_TYPE_MAX_LENGTH",
        "minLength": "BASE_TYPE_MIN_LENGTH",
        "maxItems": "BASE_TYPE_MAX_LENGTH",
        "minItems": "BASE_TYPE_MIN_LENGTH",
        "maximum": "NUMBER_TYPE_MAX",
        "minimum": "NUMBER_TYPE_MIN",
        "required": "BASE_TYPE_REQUIRED",
        "type": "BASE_TYPE_BAD_TYPE",
        "enum": "BASE_TYPE_CHOICES",
        "const": "BASE_TYPE_CHOICES",
    }.get(str(error.validator), "BASE_TYPE_INVALID")


def _message(error: ValidationError) -> str:
    limit = error.validator_value
    if error.validator in ("maxLength", "maxItems"):
        return f"Must be {limit} or fewer in length."
    if error.validator in ("minLength", "minItems"):
        return f"Must be {limit} or more in length."
    if error.validator == "required":
        return "This field is required"
    return str(error.message)[:200]
