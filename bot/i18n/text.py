"""`Text`: a catalogue key and its values, put into words only when the reader's language is known."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .catalogue import lookup


class Text:
    __slots__ = ("key", "params")

    def __init__(self, key: str, /, **params: Any) -> None:
        self.key = key
        self.params = params

    def render(self, locale: str | None = None) -> str:
        values = {k: v.render(locale) if isinstance(v, Text | Joined) else v for k, v in self.params.items()}
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


class LocalizedError(Exception):
    """An error whose message is for a member: `text` says it in their language, `str()` in English."""

    def __init__(self, key: str, /, **params: Any) -> None:
        self.text = Text(key, **params)
        super().__init__(str(self.text))


def text_of(exc: BaseException) -> Text:
    """What to tell a member about `exc`: its own text, or its message as it is (ComfyUI's words, a file's)."""
    text = getattr(exc, "text", None)
    return text if isinstance(text, Text) else Text("raw", message=str(exc))
