"""`Text`: a catalogue key and its values, put into words only when the reader's language is known."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .catalogue import lookup

QUOTE_MAX = 100  # a member's own text quoted in a message
LIST_MAX = 600  # characters of a listed set (channels, roles) before "and N more"


class Text:
    __slots__ = ("key", "params")

    def __init__(self, key: str, /, **params: Any) -> None:
        self.key = key
        self.params = params

    def render(self, locale: str | None = None) -> str:
        values = {k: v.render(locale) if isinstance(v, Text | Joined | Listed) else v for k, v in self.params.items()}
        return lookup(locale, self.key).format(**values)

    def __str__(self) -> str:
        return self.render()

    def __repr__(self) -> str:
        return f"Text({self.key!r}, **{self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.key, self.params) == (other.key, other.params)

    def __hash__(self) -> int:
        return hash(self.key)


class Joined:
    """Several texts as one, in the reader's language: `Joined([a, b])` reads "a; b"."""

    __slots__ = ("items", "separator")

    def __init__(self, items: Sequence[Text | Joined], separator: str = "; ") -> None:
        self.items = list(items)
        self.separator = separator

    def render(self, locale: str | None = None) -> str:
        return self.separator.join(item.render(locale) for item in self.items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Joined) and (self.items, self.separator) == (other.items, other.separator)

    __hash__ = None  # type: ignore[assignment]


class Listed:
    """Items joined while they fit in `limit` characters; the rest are counted: "a, b, c and 12 more"."""

    __slots__ = ("items", "limit", "separator")

    def __init__(self, items: Sequence[str], limit: int = LIST_MAX, separator: str = ", ") -> None:
        self.items = list(items)
        self.limit = limit
        self.separator = separator

    def render(self, locale: str | None = None) -> str:
        shown: list[str] = []
        used = 0
        for n, item in enumerate(self.items):
            more = len(self.items) - n - 1
            reserve = 0 if more == 0 else 24  # room for " and N more"
            cost = len(item) + (len(self.separator) if shown else 0)
            if used + cost + reserve > self.limit:
                rest = Text("list.more", count=len(self.items) - n).render(locale)
                between = ("\n" if "\n" in self.separator else " ") if shown else ""
                return self.separator.join(shown) + between + rest
            shown.append(item)
            used += cost
        return self.separator.join(shown)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Listed) and (self.items, self.limit) == (other.items, other.limit)

    __hash__ = None  # type: ignore[assignment]


def excerpt(value: object, limit: int = QUOTE_MAX) -> str:
    """What a member typed, quoted back: cut to `limit` characters with an ellipsis."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LocalizedError(Exception):
    """An error whose message is for a member: `text` says it in their language, `str()` in English."""

    def __init__(self, key: str, /, **params: Any) -> None:
        self.text = Text(key, **params)
        super().__init__(str(self.text))

    def __reduce__(self) -> tuple[Any, ...]:  # rebuilt from its key and values (it crosses to and from a process)
        return _localized, (type(self), self.text.key, self.text.params)


def _localized(kind: type[LocalizedError], key: str, params: dict[str, Any]) -> LocalizedError:
    return kind(key, **params)


def text_of(exc: BaseException) -> Text:
    """What to tell a member about `exc`: its own text, or its message as it is (ComfyUI's words, a file's)."""
    text = getattr(exc, "text", None)
    return text if isinstance(text, Text) else Text("raw", message=str(exc))
