"""Every message the bot writes, in each language it speaks: a catalogue per language, and `Text`, a message
not yet put into words, so the code that decides what to say does not decide the language."""

from .catalogue import DEFAULT_LOCALE, LOCALES, catalogue, supported
from .text import Joined, Listed, LocalizedError, Text, excerpt, text_of

__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "Joined",
    "Listed",
    "LocalizedError",
    "Text",
    "catalogue",
    "excerpt",
    "supported",
    "text_of",
]
