"""The fake Discord held to Discord's own description of its API (`discord_openapi`): for each kind of body the bot
sends, every constraint the spec puts on the fields it fills (lengths, counts, ranges, choices, required fields,
types, snowflake patterns) is broken once, and the fake must refuse that body over the wire with 400 and Discord's
code 50035; malformed JSON gets 400 and 50109, never a 500; and the fake's answers fit the spec's response
schemas. The cases are generated from the spec at collection time, so a new constraint there is a new case here."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from tests.discord_helpers import assembled, button, final, imagine, settings_between
from tests.fakes import discord_openapi
from tests.fakes.discord_api import CHANNEL_ID, FakeDiscord
from tests.stack import Stack

DROP = object()  # a mutation that removes the field
TOKEN = "{token}"  # filled with a live interaction's token
INTERACTION = "{interaction}"


def embed() -> dict[str, Any]:
    return {
        "title": "Done",
        "description": "On gpu1",
        "color": 3066993,
        "fields": [{"name": "Prompt", "value": "a fox", "inline": False}],
        "footer": {"text": "seed 42"},
        "image": {"url": "attachment://fox.png"},
    }


def buttons() -> list[dict[str, Any]]:
    reroll = {"type": 2, "style": 1, "custom_id": "job:reroll:1", "label": "Reroll", "emoji": {"name": "🔄"}}
    pick = {
        "type": 3,
        "custom_id": "job:pick:vary:1",
        "placeholder": "Vary one",
        "options": [{"label": "V1", "value": "1"}],
        "min_values": 1,
        "max_values": 1,
    }
    return [{"type": 1, "components": [reroll]}, {"type": 1, "components": [pick]}]


def command() -> dict[str, Any]:
    return {
        "name": "imagine",
        "description": "Make an image from a prompt",
        "type": 1,
        "name_localizations": {"zh-CN": "画图"},
        "options": [
            {
                "type": 3,
                "name": "prompt",
                "description": "What to draw",
                "required": True,
                "min_length": 1,
                "max_length": 6000,
            },
            {"type": 3, "name": "aspect", "description": "Aspect ratio", "choices": [{"name": "1:1", "value": "1:1"}]},
            {"type": 4, "name": "steps", "description": "Sampling steps", "min_value": 1, "max_value": 1000},
            {"type": 3, "name": "model", "description": "Checkpoint", "autocomplete": True},
        ],
    }


@dataclass(frozen=True)
class Sample:
    """One kind of body the bot sends, shaped as it sends it (the route's ids filled in per test)."""

    method: str
    path: str
    body: Any
    autocomplete: bool = False  # answers a member typing into an option, not a command


SAMPLES = {
    "a deferred reply": Sample(
        "POST", f"/interactions/{INTERACTION}/{TOKEN}/callback", {"type": 5, "data": {"flags": 64}}
    ),
    "a reply": Sample(
        "POST",
        f"/interactions/{INTERACTION}/{TOKEN}/callback",
        {
            "type": 4,
            "data": {
                "content": "⚠️ No.",
                "embeds": [embed()],
                "components": buttons(),
                "flags": 64,
                "allowed_mentions": {"parse": []},
            },
        },
    ),
    "the edit form": Sample(
        "POST",
        f"/interactions/{INTERACTION}/{TOKEN}/callback",
        {
            "type": 9,
            "data": {
                "custom_id": "job:edit-form:1",
                "title": "Edit the prompt",
                "components": [
                    {
                        "type": 1,
                        "components": [
                            {
                                "type": 4,
                                "custom_id": "prompt",
                                "style": 2,
                                "label": "Prompt",
                                "required": True,
                                "value": "a fox",
                                "max_length": 4000,
                            }
                        ],
                    }
                ],
            },
        },
    ),
    "autocomplete choices": Sample(
        "POST",
        f"/interactions/{INTERACTION}/{TOKEN}/callback",
        {"type": 8, "data": {"choices": [{"name": "sd15.safetensors", "value": "sd15.safetensors"}]}},
        autocomplete=True,
    ),
    "a follow-up": Sample("POST", f"/webhooks/1000/{TOKEN}", {"content": "⚠️ No.", "flags": 64, "embeds": [embed()]}),
    "an edit of the reply": Sample(
        "PATCH",
        f"/webhooks/1000/{TOKEN}/messages/@original",
        {
            "content": "",
            "embeds": [embed()],
            "components": buttons(),
            "attachments": [{"id": "0", "filename": "fox.png"}],
        },
    ),
    "a channel message": Sample(
        "POST",
        f"/channels/{CHANNEL_ID}/messages",
        {
            "content": "<@4000> done",
            "embeds": [embed()],
            "components": buttons(),
            "nonce": "n1",
            "allowed_mentions": {"parse": [], "users": ["4000"]},
        },
    ),
    "the commands": Sample("PUT", "/applications/1000/commands", [command()]),
}


def _resolved(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = discord_openapi.spec()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _fits(schema: dict[str, Any], value: Any) -> bool:
    return bool(Draft202012Validator(_rooted(schema), registry=discord_openapi.registry(requests=True)).is_valid(value))


def _rooted(schema: dict[str, Any]) -> dict[str, Any]:
    """A sub-schema whose `#/components/...` references resolve in the spec."""
    rooted: dict[str, Any] = json.loads(
        json.dumps(schema).replace('"#/components/', f'"{discord_openapi.ROOT}#/components/')
    )
    return rooted


def _wrong_type(value: Any) -> Any:
    return 12345 if isinstance(value, str) else "text"


def broken(
    schema: dict[str, Any], value: Any, path: tuple[Any, ...] = ()
) -> Iterator[tuple[str, tuple[Any, ...], Any]]:
    """(what is broken, where, the value put there) for every constraint the spec puts on `value` and below."""
    schema = _resolved(schema)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branch = next((s for s in schema[key] if _fits(s, value)), None)
            if branch is not None:
                yield from broken(branch, value, path)
    for part in schema.get("allOf", ()):
        yield from broken(part, value, path)
    where = "/".join(str(p) for p in path) or "body"
    if "enum" in schema and value in schema["enum"]:
        yield f"{where}: a value outside its choices", path, ("zz-not-a-choice" if isinstance(value, str) else 10**6)
    if "const" in schema:
        yield f"{where}: not its one value", path, ("zz-other" if isinstance(value, str) else 10**6)
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, str):
        if "maxLength" in schema:
            yield f"{where}: over {schema['maxLength']} characters", path, "x" * (schema["maxLength"] + 1)
        if schema.get("minLength", 0) > 0:
            yield f"{where}: under {schema['minLength']} characters", path, ""
        if "pattern" in schema:
            yield f"{where}: not of its pattern", path, "not-a-snowflake!"
        yield f"{where}: not a string", path, _wrong_type(value)
    elif isinstance(value, int | float):
        if "maximum" in schema:
            yield f"{where}: over {schema['maximum']}", path, schema["maximum"] + 1
        if "minimum" in schema:
            yield f"{where}: under {schema['minimum']}", path, schema["minimum"] - 1
        yield f"{where}: not a number", path, _wrong_type(value)
    elif isinstance(value, list):
        if "maxItems" in schema and value:
            yield (
                f"{where}: over {schema['maxItems']} items",
                path,
                value + [value[0]] * (schema["maxItems"] + 1 - len(value)),
            )
        items = schema.get("items")
        if isinstance(items, dict):
            for index, item in enumerate(value[:4]):  # items of one schema may fill different fields
                yield from broken(items, item, (*path, index))
    elif isinstance(value, dict):
        for name in schema.get("required", ()):
            if name in value:
                yield f"{where}: without its {name}", (*path, name), DROP
        for name, item in value.items():
            inner = (schema.get("properties") or {}).get(name)
            if isinstance(inner, dict):
                yield from broken(inner, item, (*path, name))


def _schema_of(sample: Sample) -> dict[str, Any]:
    found = discord_openapi.operation(sample.method, sample.path)
    assert found is not None, sample.path
    operation = discord_openapi.spec()["paths"][found.template][found.method.lower()]
    schema: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    return schema


def mutated(body: Any, path: tuple[Any, ...], value: Any) -> Any:
    made = copy.deepcopy(body)
    node = made
    for part in path[:-1]:
        node = node[part]
    if not path:
        return value
    if value is DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return made


def _cases() -> dict[str, tuple[str, tuple[Any, ...], Any]]:
    cases: dict[str, tuple[str, tuple[Any, ...], Any]] = {}
    for label, sample in SAMPLES.items():
        for what, path, value in broken(_schema_of(sample), sample.body):
            if discord_openapi.request_errors(sample.method, sample.path, mutated(sample.body, path, value)):
                cases.setdefault(f"{label}: {what}", (label, path, value))  # (a nonce may be a number too)
    return cases


CASES = _cases()


class Wire:
    def __init__(self, fake: FakeDiscord, session: aiohttp.ClientSession) -> None:
        self.fake, self.session = fake, session

    async def send(self, sample: Sample, body: Any, *, raw: bytes | None = None) -> tuple[int, Any]:
        path = sample.path
        if TOKEN in path:
            if sample.autocomplete:
                typed = [{"type": 3, "name": "model", "value": "sd"}]
                interaction = await self.fake.autocomplete("imagine", typed, "model")
            else:
                interaction = await self.fake.interact("imagine", [])
            if "webhooks" in path:  # a follow-up or an edit needs the interaction acknowledged first
                await self.post(f"/interactions/{interaction.id}/{interaction.token}/callback", {"type": 5})
            path = path.replace(TOKEN, interaction.token).replace(INTERACTION, str(interaction.id))
        return await self.post(path, body, method=sample.method, raw=raw)

    async def post(self, path: str, body: Any, *, method: str = "POST", raw: bytes | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else json.dumps(body)
        headers = {"Authorization": "Bot test-token", "Content-Type": "application/json"}
        async with self.session.request(method, self.fake.api_base + path, data=data, headers=headers) as answer:
            text = await answer.text()
            return answer.status, json.loads(text) if text else None


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    fake = await FakeDiscord(latency=0.0, ack_deadline=600).start()
    fake.check_answers = True
    async with aiohttp.ClientSession() as session:
        yield Wire(fake, session)
    await fake.stop()


def test_every_sample_fits_the_spec_and_breaks_in_many_ways() -> None:
    for label, sample in SAMPLES.items():
        assert discord_openapi.request_errors(sample.method, sample.path, sample.body) == [], label
    assert len(CASES) > 150


def test_the_fast_validator_takes_exactly_what_jsonschema_takes() -> None:
    """jsonschema-rs decides what the fake takes (every request of every test): on every sample and every way it
    breaks, its verdict is jsonschema's, so the fake is never kinder for being fast."""
    checked, differ = 0, []
    for label, sample in SAMPLES.items():
        bodies = [sample.body] + [mutated(sample.body, p, v) for _, p, v in broken(_schema_of(sample), sample.body)]
        for body in bodies:
            verdict = discord_openapi.verdicts(sample.method, sample.path, body)
            assert verdict is not None, label
            checked += 1
            if verdict[0] != verdict[1]:
                differ.append((label, json.dumps(body)[:200]))
    assert not differ
    assert checked > 150


@pytest.mark.parametrize("case", sorted(CASES))
async def test_the_fake_refuses_what_the_spec_refuses(wire: Wire, case: str) -> None:
    label, path, value = CASES[case]
    sample = SAMPLES[label]
    body = mutated(sample.body, path, value)
    assert discord_openapi.request_errors(sample.method, sample.path, body), "the mutation breaks no rule"
    status, answered = await wire.send(sample, body)
    assert (status, answered["code"]) == (400, 50035), answered
    assert answered["message"] == "Invalid Form Body" and answered["errors"]


@pytest.mark.parametrize("label", sorted(SAMPLES))
async def test_the_samples_are_taken_and_malformed_json_is_a_400_never_a_500(wire: Wire, label: str) -> None:
    sample = SAMPLES[label]
    status, _ = await wire.send(sample, sample.body)
    assert status in (200, 204)
    status, answered = await wire.send(sample, None, raw=b'{"type": 5, "data": ')
    assert (status, answered["code"]) == (400, 50109)
    assert wire.fake.answer_problems == []


async def test_the_fakes_answers_to_a_whole_job_fit_the_spec(stack: Stack) -> None:
    """A job end to end, a follow-up through its button: every answer the fake gives fits its response schema."""
    discord = stack.discord
    discord.check_answers = True
    async with assembled(settings_between(stack.comfys[0].base_url, discord.api_base, stack.folder)):
        asked = await imagine(discord, "a fox")
        await discord.until(final(discord, asked))
        result = discord.original(asked)
        info = await discord.click(result, button(result, "info"))
        await discord.until(lambda: info.message_id is not None)
    assert discord.answer_problems == []
    assert not discord.refused()
    checked = [v for r in discord.requests if (v := discord_openapi.verdicts(r.method, r.path, r.json)) is not None]
    assert len(checked) >= 5 and all(fast == full for fast, full in checked)  # the two validators, on a real job
