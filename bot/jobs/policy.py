"""Per-server rules: where and by whom images may be made, banned words, DMs, spoilers outside NSFW channels.

Defaults come from settings (`POLICY__*`); `/config` and `/rerolls` store a server's own rules in the database.
Policies are kept in memory (loaded at start, updated by those commands) so checking one never waits on the
database: the door (`admission.py`) reads them within Discord's 3 seconds.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from bot.i18n import Listed, Text

from .store import JobStore

KEY = "policy"
REROLLS = "rerolls"  # `/rerolls` as it was stored before it was part of the policy: read at start, never written


def readable(text: str) -> str:
    """Text as it reads: NFKC (full-width and compatibility letters become plain ones), format characters
    (Unicode category Cf: zero-width space, joiners, soft hyphen, direction marks) removed, case-folded."""
    folded = unicodedata.normalize("NFKC", text)
    return "".join(c for c in folded if unicodedata.category(c) != "Cf").casefold()


@dataclass(frozen=True)
class Policy:
    channels: frozenset[int] = frozenset()  # empty: every channel
    roles: frozenset[int] = frozenset()  # empty: every member
    admin_roles: frozenset[int] = frozenset()
    dms: bool = False
    banned_words: tuple[str, ...] = ()
    spoiler_outside_nsfw: bool = False
    allow_private: bool = True
    everyone_follows_up: bool = False  # `/rerolls everyone`: any member here may reroll, vary, edit its results
    daily_budget: float = 0.0  # GPU seconds per member per UTC day (0: none; `jobs/budgets.py`)
    weekly_budget: float = 0.0  # GPU seconds per member per week, from Monday 00:00 UTC (0: none)
    over_budget: str = "relax"  # past a budget: "relax" (wait for idle GPUs) or "refuse" (until it resets)
    role_weights: tuple[tuple[int, float], ...] = ()  # (role, weight): its members' share of GPU time here
    _pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def banned(self, text: str) -> bool:
        """Whether `text` holds a banned word, compared as people read them: full-width or styled letters as
        plain ones, invisible characters (zero-width spaces and joiners, soft hyphens) removed, any case."""
        if not self.banned_words:
            return False
        # a whole word between anything but letters: `_wolf_`, `wolf2` and `2wolf` hold "wolf", "wolfram" does not
        pattern = self._pattern or re.compile(
            r"(?<![^\W\d_])(?:" + "|".join(re.escape(readable(w)) for w in self.banned_words) + r")(?![^\W\d_])"
        )
        object.__setattr__(self, "_pattern", pattern)
        return pattern.search(readable(text)) is not None

    def refusal(self, *, in_dm: bool, channel_id: int, roles: Iterable[int], text: str) -> Text | None:
        """Why a member may not make an image here now, for them (never repeating a banned word), or None."""
        if in_dm:
            return None if self.dms else Text("policy.no_dms")
        if self.channels and channel_id not in self.channels:
            return Text("policy.channels", places=Listed([f"<#{c}>" for c in sorted(self.channels)]))
        if self.roles and not set(roles) & self.roles:
            return Text("policy.roles", roles=Listed([f"<@&{r}>" for r in sorted(self.roles)]))
        if self.banned(text):
            return Text("policy.banned_word")
        return None

    def tier(self, roles: Iterable[int]) -> tuple[float, int | None]:
        """A member's share of the server's GPU time, the largest weight of their roles (else 1), and the role
        that gives it (None: the base weight)."""
        held = set(roles)
        return max(((weight, role) for role, weight in self.role_weights if role in held), default=(1.0, None))

    def weight(self, roles: Iterable[int]) -> float:
        return self.tier(roles)[0]

    def spoiler(self, *, template_nsfw: bool, channel_nsfw: bool) -> bool:
        """Whether results are spoilered: outside age-restricted channels, when the template is marked NSFW or
        the server asks it for every result."""
        return not channel_nsfw and (template_nsfw or self.spoiler_outside_nsfw)

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        data["role_weights"] = [[str(role), weight] for role, weight in self.role_weights]
        return json.dumps({k: sorted(v) if isinstance(v, frozenset) else v for k, v in data.items()})

    @staticmethod
    def from_json(text: str, base: Policy) -> Policy:
        data: dict[str, Any] = json.loads(text)
        changes: dict[str, Any] = {}
        for key in ("channels", "roles", "admin_roles"):
            if key in data:
                changes[key] = frozenset(int(x) for x in data[key])
        if "banned_words" in data:
            changes["banned_words"] = tuple(str(w) for w in data["banned_words"])
        for key in (
            "spoiler_outside_nsfw",
            "allow_private",
            "everyone_follows_up",
        ):  # a stored "dms" is ignored: DMs are no server's
            if key in data:
                changes[key] = bool(data[key])
        for key in ("daily_budget", "weekly_budget"):
            if key in data:
                changes[key] = float(data[key])
        if data.get("over_budget") in ("relax", "refuse"):
            changes["over_budget"] = data["over_budget"]
        if "role_weights" in data:
            changes["role_weights"] = tuple((int(role), float(weight)) for role, weight in data["role_weights"])
        return replace(base, **changes)


class Policies:
    """Every server's policy, in memory, written through to the store."""

    def __init__(self, default: Policy, store: JobStore) -> None:
        self.default = default
        self.store = store
        self._by_guild: dict[int, Policy] = {}

    async def load(self) -> None:
        for guild_id, who in (await self.store.every_guilds_setting(REROLLS)).items():
            self._by_guild[guild_id] = replace(self.default, everyone_follows_up=who == "everyone")
        for guild_id, value in (await self.store.every_guilds_setting(KEY)).items():
            self._by_guild[guild_id] = Policy.from_json(value, self._by_guild.get(guild_id, self.default))

    def of(self, guild_id: int | None) -> Policy:
        return self._by_guild.get(guild_id, self.default) if guild_id is not None else self.default

    async def set(self, guild_id: int, policy: Policy) -> None:
        await self.store.set_guild_setting(guild_id, KEY, policy.to_json())
        self._by_guild[guild_id] = policy
