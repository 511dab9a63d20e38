"""Template parameters: what a member may set, where it goes in the graph, and how a value is checked."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from .errors import BindError

ParamType = Literal["text", "int", "float", "choice", "bool", "image"]
PARAM_TYPES: tuple[ParamType, ...] = ("text", "int", "float", "choice", "bool", "image")


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

    def bounds(self) -> str:
        if self.min is not None and self.max is not None:
            return f"from {_num(self.min)} to {_num(self.max)}"
        if self.min is not None:
            return f"at least {_num(self.min)}"
        return f"at most {_num(self.max)}" if self.max is not None else "any value"

    def _within(self, number: float) -> None:
        if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
            raise BindError(f"{self.name} must be {self.bounds()} (got {_num(number)})", parameter=self.name)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _text(param: Parameter, value: Any) -> str:
    if not isinstance(value, str):
        raise BindError(f"{param.name} must be text", parameter=param.name)
    return value


def _int(param: Parameter, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BindError(f"{param.name} must be a whole number", parameter=param.name)
    try:
        number = int(value) if not isinstance(value, float) or value.is_integer() else None
    except ValueError:
        number = None
    if number is None:
        raise BindError(f"{param.name} must be a whole number (got {value!r})", parameter=param.name)
    param._within(number)
    return number


def _float(param: Parameter, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BindError(f"{param.name} must be a number", parameter=param.name)
    try:
        number = float(value)
    except ValueError:
        raise BindError(f"{param.name} must be a number (got {value!r})", parameter=param.name) from None
    if not math.isfinite(number):
        raise BindError(f"{param.name} must be a finite number", parameter=param.name)
    param._within(number)
    return number


def _choice(param: Parameter, value: Any) -> str:
    if not isinstance(value, str):
        raise BindError(f"{param.name} must be one of the offered names", parameter=param.name)
    if param.choices and value not in param.choices:
        shown = ", ".join(param.choices[:10]) + (", ..." if len(param.choices) > 10 else "")
        raise BindError(f"{param.name} must be one of: {shown} (got {value!r})", parameter=param.name)
    return value


def _bool(param: Parameter, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
        return value.lower() in ("true", "yes", "on", "1")
    raise BindError(f"{param.name} must be true or false", parameter=param.name)


def _image(param: Parameter, value: Any) -> ImageData:
    if not isinstance(value, ImageData) or not value.data:
        raise BindError(f"{param.name} must be an attached image", parameter=param.name)
    return value


_CHECKERS = {"text": _text, "int": _int, "float": _float, "choice": _choice, "bool": _bool, "image": _image}
