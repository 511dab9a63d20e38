"""English and Simplified Chinese: the catalogues agree, every key the code uses exists, slash commands are synced
with Chinese names, and a member whose Discord is in Chinese is answered in Chinese."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import Any

from bot.i18n import LOCALES, Text, catalogue
from bot.jobs.model import JobState
from bot.ui.buttons import RESULT_ACTIONS
from tests.discord_helpers import ask, final, imagine, set_option
from tests.fakes.discord_api import FakeDiscord
from tests.stack import Stack

BOT = Path(__file__).resolve().parent.parent / "bot"
ADMIN = {"permissions": "32"}
# Keys the code builds from a value: every value it can take must have a message.
FAMILIES = {
    "state": [s.value for s in JobState],
    "kind": ["reroll", "vary", "upscale", "edit"],
    "verb": ["reroll", "vary", "upscale", "edit", "delete"],
    "buttons": list(RESULT_ACTIONS),
    "waiting": ["unreachable", "paused", "missing"],
    "result": ["seed", "steps", "cfg", "model"],
}
LITERAL_KEY = re.compile(
    r"""(?:Text|tell|say|_say|Error|\bsay\(interaction,)\(?\s*(?:interaction,\s*|locale,\s*)?"([a-z_]+(?:\.[a-z_]+)+)\""""
)
ANY_KEY = re.compile(r""""((?:[a-z_]+)\.(?:[a-z_]+))\"""")


def fields_of(template: str) -> set[tuple[str, str | None, str | None]]:
    return {(name, conversion, spec) for _, name, spec, conversion in string.Formatter().parse(template) if name}


def test_both_catalogues_have_the_same_keys_and_placeholders() -> None:
    english, chinese = catalogue("en-US"), catalogue("zh-CN")
    assert set(LOCALES) == {"en-US", "zh-CN"}
    assert sorted(set(english) ^ set(chinese)) == []
    different = [key for key in english if fields_of(english[key]) != fields_of(chinese[key])]
    assert different == []


def test_every_key_the_code_uses_is_in_the_catalogue() -> None:
    english = catalogue("en-US")
    used: set[str] = set()
    for source in BOT.rglob("*.py"):
        text = source.read_text(encoding="utf-8")
        used |= {key for key in LITERAL_KEY.findall(text)}
        used |= {key for key in ANY_KEY.findall(text) if key.split(".")[0] in english_sections(english)}
    used |= {f"{family}.{value}" for family, values in FAMILIES.items() for value in values}
    assert len(used) > 150  # the scan found the code's messages
    assert sorted(used - set(english)) == []


def english_sections(english: dict[str, str]) -> set[str]:
    return {key.split(".")[0] for key in english if key.count(".") == 1}


def test_a_missing_language_or_key_falls_back_to_english() -> None:
    assert Text("cancel.ended").render("fr") == "That job has already ended."
    assert Text("cancel.ended").render("zh-CN") == "该任务已经结束。"
    assert Text("result.cancelled", by=Text("by.you")).render("zh-CN") == "已被你取消。"


def commands_of(discord: FakeDiscord) -> list[dict[str, Any]]:
    [synced] = discord.commands.values()
    return synced


def walk(command: dict[str, Any], path: str) -> list[tuple[str, dict[str, Any]]]:
    """Every named thing in a synced command: (catalogue key, its payload)."""
    found = [(f"commands.{path}", command)]
    for option in command.get("options", []):
        if option["type"] in (1, 2):  # a subcommand (group)
            found += walk(option, f"{path}.{option['name']}")
        else:
            found.append((f"commands.{path}.options.{option['name']}", option))
            found += [(f"choices.{c['value']}", c) for c in option.get("choices", []) if re.search("[a-z]", c["name"])]
    return found


async def test_slash_commands_are_synced_in_english_and_chinese(stack: Stack) -> None:
    english, chinese = catalogue("en-US"), catalogue("zh-CN")
    async with stack.start():
        synced = commands_of(stack.discord)
    named = [pair for command in synced for pair in walk(command, command["name"])]
    covered = {key for key, _ in named if key.startswith("choices.")}
    covered |= {f"{key}.{part}" for key, _ in named if key.startswith("commands.") for part in ("name", "description")}
    assert covered == {key for key in english if key.startswith(("commands.", "choices."))}  # each one, nothing stale
    for key, item in named:
        if key.startswith("choices."):
            assert (item["name"], item["name_localizations"]["zh-CN"]) == (english[key], chinese[key]), key
            continue
        assert (item["name"], item["name_localizations"]["zh-CN"]) == (english[f"{key}.name"], chinese[f"{key}.name"])
        assert item["description"] == english[f"{key}.description"], key
        assert item["description_localizations"]["zh-CN"] == chinese[f"{key}.description"], key
        name = item["name_localizations"]["zh-CN"]  # Discord's rule for names in any language
        assert re.fullmatch(r"[-_\w]{1,32}", name) and name == name.lower(), name
        assert 1 <= len(item["description_localizations"]["zh-CN"]) <= 100, key
    imagine_command = next(c for c in synced if c["name"] == "imagine")
    assert imagine_command["name_localizations"] == {"zh-CN": "画图"}


async def test_a_member_using_discord_in_chinese_is_answered_in_chinese(stack: Stack) -> None:
    discord = stack.discord
    async with stack.start():
        made = await imagine(discord, "一只狐狸", locale="zh-CN", seed=7)
        await discord.until(final(discord, made))
        await set_option(discord, "config", "banned_words", "dragon", member=ADMIN)
        refused = await ask(discord, "imagine", [{"name": "prompt", "type": 3, "value": "a dragon"}], locale="zh-CN")
        queue = await ask(discord, "queue", locale="zh-CN")
        english = await ask(discord, "queue")
    result = discord.original(made)
    progress_titles = [
        r.json["embeds"][0]["title"]
        for r in discord.requests
        if r.method == "PATCH" and made.token in r.path and r.json and r.json.get("embeds")
    ]
    assert set(progress_titles) - {"完成"} <= {"排队中", "正在开始", "运行中"} and "完成" in progress_titles
    assert result.embeds[0]["title"] == "完成"
    names = [f["name"] for f in result.embeds[0]["fields"]]
    assert names[:3] == ["提示词", "反向提示词", "种子"] and "模板" in names and "用时" in names
    labels = [c["label"] for row in result.components for c in row["components"]]
    assert labels == ["重绘", "V1", "U1", "编辑", "信息", "删除"]
    refusal = discord.messages[refused.message_id or 0].content
    assert refused.ephemeral and refusal == "⚠️ " + catalogue("zh-CN")["policy.banned_word"]
    assert refusal.startswith("⚠️ 你的提示词中有本服务器不允许的词")
    assert discord.messages[queue.message_id or 0].embeds[0]["title"] == "队列"
    assert discord.messages[english.message_id or 0].embeds[0]["title"] == "Queue"
