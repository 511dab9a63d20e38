"""Template parameters: what a member may set, where it goes in the graph, and how a value is checked."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from bot.i18n import Text, excerpt

from .errors import BindError

ParamType = Literal["text", "int", "float", "choice", "bool", "image", "audio"]
PARAM_TYPES: tuple[ParamType, ...] = ("text", "int", "float", "choice", "bool", "image", "audio")
FILE_TYPES = ("image", "audio")  # parameters a member attaches a file for


@dataclass(frozen=True, slots=True)
class Target:
    node_id: str
    input: str

    def __str__(self) -> str:
        return f"node {self.node_id}.{self.input}"


@dataclass(frozen=True, slots=True)
class ImageData:
    """An image a member attached; uploaded to the backend at bind time under a name unique to the job."""

    data: bytes
    filename: str


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    type: ParamType
    targets: tuple[Target, ...]
    default: Any = None  # None: keep the value the workflow has
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""
    random_when_missing: bool = False  # seeds: missing or -1 means a fresh random value

    def check(self, value: Any) -> Any:
        """The value, converted and checked, or a `BindError` naming this parameter and what it accepts."""
        checker = _CHECKERS[self.type]
        return checker(self, value)

    def bounds(self) -> Text:
        if self.min is not None and self.max is not None:
            return Text("bounds.between", min=_num(self.min), max=_num(self.max))
        if self.min is not None:
            return Text("bounds.at_least", min=_num(self.min))
        return Text("bounds.at_most", max=_num(self.max)) if self.max is not None else Text("bounds.any")

    def _within(self, number: float) -> None:
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            raise BindError("bind.range", parameter=self.name, bounds=self.bounds(), got=_num(number))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _text(param: Parameter, value: Any) -> str:
    if not isinstance(value, str):
        raise BindError("bind.text", parameter=param.name)
    return value


def _int(param: Parameter, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BindError("bind.whole", parameter=param.name)
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except ValueError:
        number = None
    if number is None:
        raise BindError("bind.whole_got", parameter=param.name, got=excerpt(repr(value)))
    param._within(number)
    return number


def _float(param: Parameter, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BindError("bind.number", parameter=param.name)
    try:
        number = float(value)
    except ValueError:
        raise BindError("bind.number_got", parameter=param.name, got=excerpt(repr(value))) from None
    if not math.isfinite(number):
        raise BindError("bind.finite", parameter=param.name)
    param._within(number)
    return number


def _choice(param: Parameter, value: Any) -> str:
    if not isinstance(value, str):
        raise BindError("bind.choice", parameter=param.name)
    if param.choices and value not in param.choices:
        shown = ", ".join(param.choices[:10]) + (", ..." if len(param.choices) > 10 else "")
        raise BindError("bind.choice_got", parameter=param.name, shown=shown, got=excerpt(repr(value)))
    return value


def _bool(param: Parameter, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    raise BindError("bind.bool", parameter=param.name)


def _image(param: Parameter, value: Any) -> ImageData:
    if not isinstance(value, ImageData) or not value.data:
        raise BindError("bind.image", parameter=param.name)
    return value


_CHECKERS = {
    "text": _text,
    "int": _int,
    "float": _float,
    "choice": _choice,
    "bool": _bool,
    "image": _image,
    "audio": _image,  # a sound is a file as an image is (ImageData: its bytes and name)
}
