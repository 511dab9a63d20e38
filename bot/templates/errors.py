"""The one exception tree of the templates package."""

from __future__ import annotations

from typing import Any

from bot.i18n import LocalizedError


class TemplateError(Exception):
    """A template cannot be loaded, validated or bound; the message is meant for a person."""


class TemplateLoadError(TemplateError):
    """A file in `workflows/` cannot become a template."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file


class BindError(LocalizedError, TemplateError):
    """A value a member gave does not fit the template; names the parameter and what it accepts."""

    def __init__(self, key: str, /, *, parameter: str | None = None, **params: Any) -> None:
        super().__init__(key, parameter=parameter, **params)
        self.parameter = parameter


class UnknownTemplate(LocalizedError, TemplateError):
    """No template has the name a member gave."""


class UnusableTemplate(UnknownTemplate):
    """A file of that name is in `workflows/` but is not usable: it was refused (`reason` says why, for admins),
    or it is a UI export waiting for a ComfyUI server's node definitions."""

    def __init__(self, key: str, /, *, name: str, reason: str) -> None:
        super().__init__(key, name=name)
        self.name, self.reason = name, reason
