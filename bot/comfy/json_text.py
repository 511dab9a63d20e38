"""JSON from ComfyUI, parsed by orjson (several times faster than the standard library: a job brings ~50
WebSocket frames and a few HTTP bodies) and, where orjson refuses what Python's own encoder writes (`NaN`,
`Infinity`: ComfyUI serialises with `json.dumps`, which emits them for float outputs), by `json`."""

from __future__ import annotations

import json
from typing import Any

import orjson


def loads(text: str | bytes) -> Any:
    """Parse a JSON document; ValueError if it is not one."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)  # what only Python's dialect allows; raises ValueError if it is not JSON at all
