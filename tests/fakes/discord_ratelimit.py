"""Discord's rate limits, as the fake answers them: per-route buckets keyed by their top-level resource (the
channel, or the interaction webhook's token), the global limit, and the headers Discord sends.

Source: docs.discord.com/developers/topics/rate-limits. Every response of a limited route carries
X-RateLimit-Limit, -Remaining, -Reset, -Reset-After and -Bucket; a 429 adds Retry-After, X-RateLimit-Scope
(user, global or shared) and, for the global limit, X-RateLimit-Global. Per-route limits are computed per
top-level resource (channel_id, guild_id, webhook_id + webhook_token). All bots may make up to 50 requests per
second; interaction endpoints (callbacks, and webhooks with an interaction token) are not bound to it.
Discord does not publish each route's numbers (they are read from the headers); the fake uses the values bots
observe: 5 per 5 s for creating and for editing messages in a channel, 5 per 1 s for deleting, 1 per 0.25 s
for reactions, 5 per 2 s per interaction webhook token, and 30 per 60 s for webhook messages created in a
channel (follow-ups included).
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

GLOBAL_PER_SECOND = 50


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window: float  # seconds, at Discord's speed


RULES = {
    "message-create": Rule("message-create", 5, 5.0),
    "message-edit": Rule("message-edit", 5, 5.0),
    "message-delete": Rule("message-delete", 5, 1.0),
    "reaction": Rule("reaction", 1, 0.25),
    "interaction-webhook": Rule("interaction-webhook", 5, 2.0),
    # Webhook messages created in one channel, interaction follow-ups included: a limit "added to the channel
    # itself", 30 per 60 s, shared by every webhook there (Discord staff in discord/discord-api-docs#367; #3763:
    # ephemeral follow-ups count too). No document gives it in numbers; it is answered with the shared scope.
    "channel-webhook-create": Rule("channel-webhook-create", 30, 60.0),
}
SHARED = frozenset({"channel-webhook-create"})  # limits of a resource, not of the bot: X-RateLimit-Scope shared


class Limited(Exception):
    def __init__(self, headers: dict[str, str], retry_after: float, scope: str) -> None:
        super().__init__(f"rate limited ({scope})")
        self.headers, self.retry_after, self.scope = headers, retry_after, scope

    @property
    def body(self) -> dict[str, object]:
        return {  # the spec's RatelimitedResponse: an Error (code, message) with retry_after and global
            "code": 0,
            "message": "You are being rate limited.",
            "retry_after": self.retry_after,
            "global": self.scope == "global",
        }


@dataclass
class _Window:
    times: deque[float] = field(default_factory=deque)

    def prune(self, now: float, window: float) -> None:
        while self.times and now - self.times[0] >= window:
            self.times.popleft()


class RateLimits:
    """`scale` compresses time (0.2: Discord's 5 s are 1 s) so tests need not wait Discord's real windows;
    `limits` overrides a rule's count (a bench that measures something else loosens one)."""

    def __init__(self, *, scale: float = 1.0, limits: dict[str, int] | None = None) -> None:
        self.scale = scale
        self.limits = dict(limits or {})
        self.answered: dict[str, int] = {}  # rule name (or "global") -> 429s answered
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global = _Window()

    def take(self, rule_name: str, resource: str, *, global_bound: bool = True) -> dict[str, str]:
        """Count one request on `rule_name` for `resource`; the headers to answer with, or Limited."""
        now = time.monotonic()
        if global_bound:
            self._global.prune(now, 1.0)
            if len(self._global.times) >= GLOBAL_PER_SECOND:
                retry = round(1.0 - (now - self._global.times[0]), 3)
                self.answered["global"] = self.answered.get("global", 0) + 1
                headers = {
                    "Retry-After": str(max(retry, 0.001)),
                    "X-RateLimit-Global": "true",
                    "X-RateLimit-Scope": "global",
                    "Via": "1.1 google",  # discord.py treats a 429 without it as Cloudflare's ban
                }
                raise Limited(headers, retry, "global")
            self._global.times.append(now)
        rule = RULES[rule_name]
        limit, window = self.limits.get(rule_name, rule.limit), rule.window * self.scale
        bucket = self._windows.setdefault((rule_name, resource), _Window())
        bucket.prune(now, window)
        base = {"X-RateLimit-Limit": str(limit), "X-RateLimit-Bucket": f"{rule_name}-bucket"}
        if len(bucket.times) >= limit:
            retry = round(window - (now - bucket.times[0]), 3)
            self.answered[rule_name] = self.answered.get(rule_name, 0) + 1
            headers = {
                **base,
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(retry),
                "X-RateLimit-Reset": str(time.time() + retry),
                "X-RateLimit-Scope": "shared" if rule_name in SHARED else "user",
                "Retry-After": str(retry),
                "Via": "1.1 google",
            }
            raise Limited(headers, retry, "shared" if rule_name in SHARED else "user")
        bucket.times.append(now)
        reset_after = round(window - (now - bucket.times[0]), 3)
        return {
            **base,
            "X-RateLimit-Remaining": str(limit - len(bucket.times)),
            "X-RateLimit-Reset-After": str(reset_after),
            "X-RateLimit-Reset": str(time.time() + reset_after),
        }

    @property
    def total(self) -> int:
        return sum(self.answered.values())
