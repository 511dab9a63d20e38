"""The fake Discord refuses what Discord refuses, over the wire, with Discord's status and code (one test per
rule; the rule's source is cited where the fake enforces it)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.fakes.discord_api import CHANNEL_ID, DM_CHANNEL_ID, OWNER_ID, USER_ID, FakeDiscord
from tests.fakes.discord_payloads import (
    ADD_REACTIONS,
    ATTACH_FILES,
    EMBED_LINKS,
    MANAGE_MESSAGES,
    SEND_MESSAGES,
    Interaction,
    MiB,
)

CHANNEL = f"/channels/{CHANNEL_ID}/messages"


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def code(self) -> int | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


class Wire:
    def __init__(self, fake: FakeDiscord, session: aiohttp.ClientSession) -> None:
        self.fake, self.session = fake, session

    async def call(
        self, method: str, path: str, body: Any = None, *, files: list[bytes] | None = None, token: str = "test-token"
    ) -> Answer:
        headers = {"Authorization": f"Bot {token}"}
        data: Any
        if files:
            form = aiohttp.FormData()
            form.add_field("payload_json", json.dumps(body or {}), content_type="application/json")
            for n, blob in enumerate(files):
                form.add_field(f"files[{n}]", blob, filename=f"f{n}.png", content_type="image/png")
            data = form
        else:
            data = None if body is None else json.dumps(body)
            headers["Content-Type"] = "application/json"
        async with self.session.request(method, self.fake.api_base + path, data=data, headers=headers) as response:
            text = await response.text()
            return Answer(response.status, json.loads(text) if text else None, dict(response.headers))

    async def command(self, **kind: Any) -> Interaction:
        return await self.fake.interact("imagine", [], **kind)

    async def callback(self, interaction: Interaction, kind: int, data: Any = None) -> Answer:
        body = {"type": kind} | ({"data": data} if data is not None else {})
        return await self.call("POST", f"/interactions/{interaction.id}/{interaction.token}/callback", body)

    async def followup(self, interaction: Interaction, body: Any, **extra: Any) -> Answer:
        return await self.call("POST", f"/webhooks/1000/{interaction.token}", body, **extra)


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    fake = await FakeDiscord(latency=0.0).start()  # the rules, not the distance (51 requests must fit in 1 s)
    async with aiohttp.ClientSession() as session:
        yield Wire(fake, session)
    await fake.stop()


def embed(**parts: Any) -> dict[str, Any]:
    return {"title": "t", "description": "d"} | parts


def field(name: str = "n", value: str = "v") -> dict[str, Any]:
    return {"name": name, "value": value}


def row(*children: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(children)}


def button(custom_id: str = "b", label: str = "go") -> dict[str, Any]:
    return {"type": 2, "style": 1, "custom_id": custom_id, "label": label}


def select(options: int = 3, **option: Any) -> dict[str, Any]:
    items = [{"label": f"o{n}", "value": f"v{n}"} | option for n in range(options)]
    return {"type": 3, "custom_id": "s", "options": items}


REFUSED_MESSAGES = {
    "content over 2000": ({"content": "x" * 2001}, 50035),
    "an empty message": ({"content": ""}, 50006),
    "eleven embeds": ({"embeds": [embed()] * 11}, 50035),
    "a title over 256": ({"embeds": [embed(title="x" * 257)]}, 50035),
    "a description over 4096": ({"embeds": [embed(description="x" * 4097)]}, 50035),
    "26 fields": ({"embeds": [embed(fields=[field()] * 26)]}, 50035),
    "a field name over 256": ({"embeds": [embed(fields=[field(name="x" * 257)])]}, 50035),
    "a field value over 1024": ({"embeds": [embed(fields=[field(value="x" * 1025)])]}, 50035),
    "an empty field value": ({"embeds": [embed(fields=[field(value="")])]}, 50035),
    "a blank field value": ({"embeds": [embed(fields=[field(value=" \n ")])]}, 50035),
    "a blank field name": ({"embeds": [embed(fields=[field(name=" ")])]}, 50035),
    "a footer over 2048": ({"embeds": [embed(footer={"text": "x" * 2049})]}, 50035),
    "an author over 256": ({"embeds": [embed(author={"name": "x" * 257})]}, 50035),
    "6001 across embeds": ({"embeds": [embed(description="x" * 3000)] * 2 + [embed(title="x" * 5)]}, 50035),
    "six action rows": ({"components": [row(button(f"b{n}")) for n in range(6)]}, 50035),
    "six buttons in a row": ({"components": [row(*(button(f"b{n}") for n in range(6)))]}, 50035),
    "a custom id over 100": ({"components": [row(button("x" * 101))]}, 50035),
    "an empty custom id": ({"components": [row(button(""))]}, 50035),
    "a duplicate custom id": ({"components": [row(button("same")), row(button("same"))]}, 50035),
    "a label over 80": ({"components": [row(button(label="x" * 81))]}, 50035),
    "a select of 26 options": ({"components": [row(select(26))]}, 50035),
    "an option label over 100": ({"components": [row(select(1, label="x" * 101))]}, 50035),
    "an option description over 100": ({"components": [row(select(1, description="x" * 101))]}, 50035),
    "a select beside a button": ({"components": [row(select(), button())]}, 50035),
}


@pytest.mark.parametrize("case", REFUSED_MESSAGES, ids=list(REFUSED_MESSAGES))
async def test_messages_embeds_and_components_over_discords_limits_are_refused(wire: Wire, case: str) -> None:
    body, code = REFUSED_MESSAGES[case]
    sent = await wire.call("POST", CHANNEL, body)
    assert (sent.status, sent.code) == (400, code)
    interaction = await wire.command()
    answered = await wire.callback(interaction, 4, body)
    assert (answered.status, answered.code) == (400, code)
    assert not wire.fake.messages


async def test_what_fits_the_limits_exactly_is_taken(wire: Wire) -> None:
    fields = [field("x" * 256, "y" * 1024)] * 4 + [field("n", "v" * 600)]  # 5979 of 6000
    edge = embed(title="x" * 256, description="d", fields=fields, footer={"text": "f"})
    sent = await wire.call("POST", CHANNEL, {"content": "x" * 2000, "embeds": [edge]})
    assert sent.status == 200
    rows = [row(*(button(f"b{r}{n}", "x" * 80) for n in range(5))) for r in range(4)] + [row(select(25))]
    assert (await wire.call("POST", CHANNEL, {"components": rows})).status == 200


MODALS: dict[str, dict[str, Any]] = {
    "a title over 45": {"title": "x" * 46},
    "no inputs": {"components": []},
    "six inputs": {"components": [row({"type": 4, "custom_id": f"i{n}", "label": "l"}) for n in range(6)]},
    "a label over 45": {"components": [row({"type": 4, "custom_id": "i", "label": "x" * 46})]},
    "a value over 4000": {"components": [row({"type": 4, "custom_id": "i", "label": "l", "value": "x" * 4001})]},
}


@pytest.mark.parametrize("case", MODALS, ids=list(MODALS))
async def test_modals_over_discords_limits_are_refused(wire: Wire, case: str) -> None:
    modal = {
        "title": "Edit",
        "custom_id": "m",
        "components": [row({"type": 4, "custom_id": "i", "label": "l", "style": 1})],
    }
    interaction = await wire.command()
    answered = await wire.callback(interaction, 9, modal | MODALS[case])
    assert (answered.status, answered.code) == (400, 50035)
    assert (await wire.callback(interaction, 9, modal)).status == 200  # the refusal acknowledged nothing


def command(**parts: Any) -> dict[str, Any]:
    return {"name": "imagine", "description": "Make an image", "type": 1} | parts


def opt(name: str = "prompt", **parts: Any) -> dict[str, Any]:
    return {"type": 3, "name": name, "description": "d"} | parts


COMMANDS = {
    "a name with a space": command(name="make image"),
    "an uppercase name": command(name="Imagine"),
    "a name over 32": command(name="x" * 33),
    "an uppercase localized name": command(name_localizations={"de": "Bild"}),
    "an empty description": command(description=""),
    "a description over 100": command(description="x" * 101),
    "a localized description over 100": command(description_localizations={"zh-CN": "画" * 101}),
    "26 options": command(options=[opt(f"o{n}") for n in range(26)]),
    "26 choices": command(options=[opt(choices=[{"name": f"c{n}", "value": f"c{n}"} for n in range(26)])]),
    "an uppercase option name": command(options=[opt("Prompt")]),
    "a required option after an optional one": command(options=[opt("a"), opt("b", required=True)]),
}


@pytest.mark.parametrize("case", COMMANDS, ids=list(COMMANDS))
async def test_command_registration_follows_discords_naming_and_limits(wire: Wire, case: str) -> None:
    put = await wire.call("PUT", "/applications/1000/commands", [COMMANDS[case]])
    assert (put.status, put.code) == (400, 50035)
    fine = command(name_localizations={"zh-CN": "画图"}, options=[opt(required=True), opt("seed")])
    assert (await wire.call("PUT", "/applications/1000/commands", [fine])).status == 200


async def test_more_than_100_slash_commands_in_one_overwrite_are_refused(wire: Wire) -> None:
    """The documented 100 slash commands, stricter than the spec's 130 for every kind together."""
    many = [command(name=f"c{n}") for n in range(101)]
    put = await wire.call("PUT", "/applications/1000/commands", many)
    assert (put.status, put.code) == (400, 50035)
    assert (await wire.call("PUT", "/applications/1000/commands", many[:100])).status == 200


async def test_an_interaction_is_acknowledged_once_within_three_seconds(wire: Wire) -> None:
    late = await wire.command()
    wire.fake.ack_deadline = 0.0  # as if three seconds had passed
    answered = await wire.callback(late, 5)
    assert (answered.status, answered.code) == (404, 10062)
    wire.fake.ack_deadline = 3.0
    interaction = await wire.command()
    assert (await wire.callback(interaction, 5)).status == 200
    again = await wire.callback(interaction, 4, {"content": "twice"})
    assert (again.status, again.code) == (400, 40060)


async def test_a_refused_response_acknowledges_nothing(wire: Wire) -> None:
    interaction = await wire.command()
    assert (await wire.callback(interaction, 4, {"content": ""})).code == 50006
    early = await wire.followup(interaction, {"content": "too early"})
    assert (early.status, early.code) == (404, 10015)
    assert (await wire.callback(interaction, 4, {"content": "now it fits"})).status == 200


async def test_the_first_follow_up_after_a_defer_fills_in_the_loading_message_and_keeps_it_ephemeral(
    wire: Wire,
) -> None:
    interaction = await wire.command()
    deferred = await wire.callback(interaction, 5, {"flags": 64})
    loading = deferred.body["interaction"]["response_message_id"]  # (no resource: the spec's are for types 4, 7)
    first = await wire.followup(interaction, {"content": "public?"})  # no ephemeral flag
    assert first.body["id"] == loading and first.body["flags"] & 64
    second = await wire.followup(interaction, {"content": "a new one"})
    assert second.body["id"] != loading and not second.body["flags"] & 64


async def test_a_deferred_update_creates_no_message_and_original_is_the_clicked_message(wire: Wire) -> None:
    posted = await wire.call("POST", CHANNEL, {"content": "a result", "components": [row(button())]})
    message = wire.fake.messages[int(posted.body["id"])]
    clicked = await wire.fake.click(message, "b")
    before = set(wire.fake.messages)
    assert (await wire.callback(clicked, 6)).status == 200
    assert set(wire.fake.messages) == before
    edited = await wire.call("PATCH", f"/webhooks/1000/{clicked.token}/messages/@original", {"content": "changed"})
    assert edited.body["id"] == posted.body["id"] and message.content == "changed"
    command_ = await wire.command()
    refused = await wire.callback(command_, 6)  # a slash command has no message to update
    assert (refused.status, refused.code) == (400, 50035)


async def test_an_ephemeral_message_cannot_be_reached_through_channel_routes(wire: Wire) -> None:
    interaction = await wire.command()
    answered = await wire.callback(interaction, 4, {"content": "only you", "flags": 64})
    path = f"{CHANNEL}/{answered.body['resource']['message']['id']}"
    for method, body in (("PATCH", {"content": "x"}), ("DELETE", None), ("GET", None)):
        reached = await wire.call(method, path, body)
        assert (reached.status, reached.code) == (404, 10008)


async def test_channel_routes_have_per_channel_buckets_with_discords_headers(wire: Wire) -> None:
    answers = [await wire.call("POST", CHANNEL, {"content": f"m{n}"}) for n in range(6)]
    assert [a.status for a in answers] == [200] * 5 + [429]
    first, limited = answers[0], answers[-1]
    assert {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "X-RateLimit-Reset-After"} <= set(
        first.headers
    ) and first.headers["X-RateLimit-Bucket"]
    assert limited.headers["X-RateLimit-Remaining"] == "0" and limited.headers["X-RateLimit-Scope"] == "user"
    assert limited.body["retry_after"] > 0 and limited.headers["Retry-After"]
    assert (await wire.call("POST", f"/channels/{CHANNEL_ID + 1}/messages", {"content": "elsewhere"})).status == 200
    message = answers[0].body["id"]
    edits = [await wire.call("PATCH", f"{CHANNEL}/{message}", {"content": f"e{n}"}) for n in range(6)]
    assert [e.status for e in edits] == [200] * 5 + [429]  # editing is its own bucket
    reactions = [await wire.call("PUT", f"{CHANNEL}/{message}/reactions/%E2%9C%85/@me") for _ in range(2)]
    assert [r.status for r in reactions] == [204, 429]
    wire.fake.limits.limits["message-create"] = 100  # enough messages to delete, in one channel
    more = [(await wire.call("POST", CHANNEL, {"content": f"m{n}"})).body["id"] for n in range(6)]
    deletes = [await wire.call("DELETE", f"{CHANNEL}/{made}") for made in more]
    assert [d.status for d in deletes] == [204] * 5 + [429]  # deleting is its own bucket too


async def test_interaction_webhooks_are_bucketed_per_token(wire: Wire) -> None:
    interaction, other = await wire.command(), await wire.command()
    for made in (interaction, other):
        await wire.callback(made, 4, {"content": "hi"})
    answers = [await wire.followup(interaction, {"content": f"f{n}"}) for n in range(6)]
    assert [a.status for a in answers] == [200] * 5 + [429]
    assert (await wire.followup(other, {"content": "another token"})).status == 200


async def test_the_global_limit_is_fifty_requests_a_second(wire: Wire) -> None:
    statuses = [(await wire.call("POST", f"/channels/{CHANNEL_ID + n}/messages", {"content": "x"})) for n in range(51)]
    assert [s.status for s in statuses[:50]] == [200] * 50
    assert statuses[50].status == 429 and statuses[50].headers["X-RateLimit-Global"] == "true"


async def test_uploads_are_limited_by_route_guild_boosts_and_the_interactions_own_limit(wire: Wire) -> None:
    over = bytes(10 * MiB + 1)
    refused = await wire.call("POST", CHANNEL, {}, files=[over])
    assert (refused.status, refused.code) == (413, 40005)
    eleven = await wire.call("POST", f"/channels/{CHANNEL_ID + 1}/messages", {}, files=[b"x"] * 11)
    assert (eleven.status, eleven.code) == (400, 50035)
    wire.fake.attachment_size_limit = 25 * MiB  # the member has Nitro: their interactions may carry more
    interaction = await wire.command()
    await wire.callback(interaction, 5)
    assert (await wire.followup(interaction, {}, files=[over])).status == 200
    still = await wire.call("POST", f"/channels/{CHANNEL_ID + 2}/messages", {}, files=[over])
    assert still.status == 413  # the bot's own routes keep the guild's limit
    wire.fake.set_premium_tier(2)
    assert (await wire.call("POST", f"/channels/{CHANNEL_ID + 3}/messages", {}, files=[over])).status == 200


@pytest.mark.parametrize(
    ("denied", "body", "files"),
    [
        (SEND_MESSAGES, {"content": "x"}, None),
        (EMBED_LINKS, {"embeds": [embed()]}, None),
        (ATTACH_FILES, {"content": "x"}, [b"png"]),
    ],
    ids=["send messages", "embed links", "attach files"],
)
async def test_what_a_channel_denies_the_bot_is_refused_with_50013(
    wire: Wire, denied: int, body: dict[str, Any], files: list[bytes] | None
) -> None:
    await wire.fake.deny(CHANNEL_ID, denied)
    refused = await wire.call("POST", CHANNEL, body, files=files)
    assert (refused.status, refused.code) == (403, 50013)
    interaction = await wire.command()
    assert not int(wire.fake.people.payload_of(interaction, {}, {})["app_permissions"]) & denied


async def test_reactions_need_add_reactions_and_removing_anothers_needs_manage_messages(wire: Wire) -> None:
    message = (await wire.call("POST", CHANNEL, {"content": "x"})).body["id"]
    await wire.fake.deny(CHANNEL_ID, ADD_REACTIONS | MANAGE_MESSAGES)
    added = await wire.call("PUT", f"{CHANNEL}/{message}/reactions/%E2%9C%85/@me")
    assert (added.status, added.code) == (403, 50013)
    wire.fake.limits.scale = 0.0  # no reaction bucket in the way of the next rule
    removed = await wire.call("DELETE", f"{CHANNEL}/{message}/reactions/%E2%9C%85/{USER_ID}")
    assert (removed.status, removed.code) == (403, 50013)


async def test_members_are_ordinary_and_may_close_their_direct_messages(wire: Wire) -> None:
    assert wire.fake.guild_payload()["owner_id"] == str(OWNER_ID) != str(USER_ID)
    wire.fake.dms_closed.add(USER_ID)
    dm = await wire.call("POST", f"/channels/{DM_CHANNEL_ID + USER_ID}/messages", {"content": "your result"})
    assert (dm.status, dm.code) == (403, 50007)


async def test_a_wrong_bot_token_is_unauthorized(wire: Wire) -> None:
    assert (await wire.call("GET", "/users/@me", token="not-the-token")).status == 401


@pytest.mark.parametrize(
    "choice",
    [{"name": "", "value": "v"}, {"name": "x" * 101, "value": "v"}, {"name": "n", "value": "x" * 101}],
    ids=["an empty name", "a name over 100", "a value over 100"],
)
async def test_autocomplete_choices_over_discords_limits_are_refused(wire: Wire, choice: dict[str, str]) -> None:
    typed = await wire.fake.autocomplete("imagine", [{"name": "lora", "type": 3, "value": "x"}], focused="lora")
    answered = await wire.callback(typed, 8, {"choices": [choice]})
    assert (answered.status, answered.code) == (400, 50035)
    ok = {"choices": [{"name": "x" * 100, "value": "x" * 100}]}
    assert (await wire.callback(typed, 8, ok)).status == 200  # the refusal acknowledged nothing


async def _identify(wire: Wire, shard: list[int]) -> aiohttp.ClientWebSocketResponse:
    ws = await wire.session.ws_connect(wire.fake.gateway_url)
    assert (await ws.receive_json())["op"] == 10  # HELLO
    await ws.send_json({"op": 2, "d": {"token": "test-token", "intents": 1 << 10, "shard": shard, "properties": {}}})
    return ws


async def test_a_guilds_events_go_to_its_shard_only_and_a_shard_out_of_range_is_closed_with_4010(wire: Wire) -> None:
    """topics/gateway#sharding: shard_id = (guild_id >> 22) % num_shards; direct messages go to shard 0;
    topics/opcodes-and-status-codes: 4010 Invalid shard."""
    other_guild = (1 << 22) | 2000  # on shard 1 of 2
    wire.fake.add_guild(other_guild, 3200)
    zero, one = await _identify(wire, [0, 2]), await _identify(wire, [1, 2])
    ready = [await ws.receive_json() for ws in (zero, one)]
    assert [[g["id"] for g in r["d"]["guilds"]] for r in ready] == [["2000"], [str(other_guild)]]
    assert [(await ws.receive_json())["d"]["id"] for ws in (zero, one)] == ["2000", str(other_guild)]  # GUILD_CREATE
    await wire.fake.interact("imagine", [], channel_id=3200)
    got = await one.receive_json()
    assert got["t"] == "INTERACTION_CREATE" and got["d"]["guild_id"] == str(other_guild)
    await wire.fake.interact("imagine", [])
    assert (await zero.receive_json())["d"]["guild_id"] == "2000"  # shard 0 got only its own server's
    bad = await _identify(wire, [2, 2])
    assert (await bad.receive()).type is aiohttp.WSMsgType.CLOSE and bad.close_code == 4010
    for ws in (zero, one, bad):
        await ws.close()


async def test_webhook_messages_created_in_one_channel_are_limited_to_30_a_minute_follow_ups_included(
    wire: Wire,
) -> None:
    """A limit of the channel itself, shared by every webhook and interaction there (discord-api-docs#367)."""
    answers = []
    for _ in range(31):
        interaction = await wire.command()
        await wire.callback(interaction, 4, {"content": "ok"})
        answers.append(await wire.followup(interaction, {"content": "more", "flags": 64}))
    assert [a.status for a in answers[:30]] == [200] * 30
    assert answers[30].status == 429 and answers[30].headers["X-RateLimit-Scope"] == "shared"
