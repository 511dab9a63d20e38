"""Typed results of ComfyUI's REST API, parsed at the boundary from the shapes the real server sends."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .errors import ComfyProtocolError, NodeRejection, ValidationIssue
from .events import ExecutionError, ExecutionInterrupted, FileRef, files_in_output, texts_in_output


@dataclass(frozen=True, slots=True)
class SubmitResult:
    prompt_id: str
    number: int
    # A 200 may still drop an output branch that failed validation: these say which and why.
    node_errors: Mapping[str, NodeRejection] = field(default_factory=dict)
    # True when the answer was lost and the prompt was found in /queue or /history instead.
    recovered: bool = False


@dataclass(frozen=True, slots=True)
class QueueEntry:
    """One `/queue` entry: `[number, prompt_id, prompt, extra_data, outputs]` on the wire."""

    number: float
    prompt_id: str
    client_id: str | None
    output_nodes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    running: tuple[QueueEntry, ...]
    pending: tuple[QueueEntry, ...]  # sorted in the order ComfyUI will run them

    def has(self, prompt_id: str) -> bool:
        return any(entry.prompt_id == prompt_id for entry in (*self.running, *self.pending))

    def is_running(self, prompt_id: str) -> bool:
        return any(entry.prompt_id == prompt_id for entry in self.running)

    def __len__(self) -> int:
        return len(self.running) + len(self.pending)


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    prompt_id: str
    status: str  # "success" | "error" (also for interrupted prompts)
    completed: bool
    outputs: Mapping[str, tuple[FileRef, ...]]
    error: ExecutionError | None = None
    interrupted: ExecutionInterrupted | None = None
    texts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # text outputs, by node

    @property
    def files(self) -> tuple[FileRef, ...]:
        return tuple(ref for refs in self.outputs.values() for ref in refs)


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    type: str
    vram_total: int = 0
    vram_free: int = 0


@dataclass(frozen=True, slots=True)
class SystemStats:
    comfyui_version: str
    ram_total: int
    ram_free: int
    devices: tuple[Device, ...]


@dataclass(frozen=True, slots=True)
class InputSpec:
    """One input of a node class. `choices` is set for combo inputs (checkpoints, samplers, ...)."""

    type: str
    choices: tuple[str, ...] | None = None
    default: Any = None
    min: float | None = None
    max: float | None = None
    step: float | None = None
    # the frontend adds a "fixed/increment/..." widget after this one when True; None: the server does not say
    control_after_generate: bool | None = None
    force_input: bool = False  # a socket, never a widget, in the frontend


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    required: Mapping[str, InputSpec]
    optional: Mapping[str, InputSpec]
    outputs: tuple[str, ...]
    output_node: bool
    display_name: str = ""  # the frontend's default title for the node
    api_node: bool = False  # a partner node (calls Comfy.org's API): it needs a Comfy.org key with the prompt


@dataclass(frozen=True, slots=True)
class UploadedFile:
    name: str
    subfolder: str = ""
    type: str = "input"

    @property
    def ref(self) -> FileRef:
        return FileRef(self.name, self.subfolder, self.type)


def _obj(value: Any) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one (optional parts of a response)."""
    return value if isinstance(value, Mapping) else {}


def _require(condition: bool, what: str) -> None:
    if not condition:
        raise ComfyProtocolError(f"unexpected response shape: {what}")


def _issue(raw: Any) -> ValidationIssue:
    if isinstance(raw, str):  # very old servers sent a plain string
        return ValidationIssue(type="error", message=raw)
    _require(isinstance(raw, Mapping), "error is not an object")
    input_name = _obj(raw.get("extra_info")).get("input_name")
    return ValidationIssue(
        type=str(raw.get("type", "")),
        message=str(raw.get("message", "")),
        details=str(raw.get("details", "") or ""),
        input_name=input_name if isinstance(input_name, str) else None,
    )


def parse_node_errors(raw: Any) -> dict[str, NodeRejection]:
    if not raw:
        return {}
    _require(isinstance(raw, Mapping), "node_errors is not an object")
    rejections = {}
    for node_id, body in raw.items():
        _require(isinstance(body, Mapping), f"node_errors[{node_id}] is not an object")
        rejections[str(node_id)] = NodeRejection(
            node_id=str(node_id),
            class_type=str(body.get("class_type", "")),
            errors=tuple(_issue(item) for item in body.get("errors") or ()),
            dependent_outputs=tuple(str(x) for x in body.get("dependent_outputs") or ()),
        )
    return rejections


def parse_rejection_issue(raw: Any) -> ValidationIssue:
    return _issue(raw)


def parse_submit(raw: Any) -> SubmitResult:
    _require(isinstance(raw, Mapping) and isinstance(raw.get("prompt_id"), str), "no prompt_id in /prompt")
    number = raw.get("number", 0)
    return SubmitResult(
        prompt_id=raw["prompt_id"],
        number=int(number) if isinstance(number, int | float) else 0,
        node_errors=parse_node_errors(raw.get("node_errors")),
    )


def _queue_entry(raw: Any) -> QueueEntry:
    _require(isinstance(raw, list) and len(raw) >= 2, "queue entry is not [number, prompt_id, ...]")
    number, prompt_id = raw[0], raw[1]
    _require(isinstance(number, int | float) and isinstance(prompt_id, str), "queue entry types")
    extra = _obj(raw[3]) if len(raw) > 3 else {}
    outputs = raw[4] if len(raw) > 4 and isinstance(raw[4], list) else []
    client_id = extra.get("client_id")
    return QueueEntry(
        number=number,
        prompt_id=prompt_id,
        client_id=client_id if isinstance(client_id, str) else None,
        output_nodes=tuple(str(x) for x in outputs),
    )


def parse_queue(raw: Any) -> QueueSnapshot:
    _require(isinstance(raw, Mapping), "/queue is not an object")
    running = raw.get("queue_running") or []
    pending = raw.get("queue_pending") or []
    _require(isinstance(running, list) and isinstance(pending, list), "/queue lists")
    return QueueSnapshot(
        running=tuple(_queue_entry(item) for item in running),
        pending=tuple(sorted((_queue_entry(item) for item in pending), key=lambda entry: entry.number)),
    )


_ERROR = TypeAdapter(ExecutionError)
_INTERRUPTED = TypeAdapter(ExecutionInterrupted)


def _history_entry(prompt_id: str, raw: Any) -> HistoryEntry:
    _require(isinstance(raw, Mapping), f"history[{prompt_id}] is not an object")
    status, outputs_raw = _obj(raw.get("status")), _obj(raw.get("outputs"))
    error = interrupted = None
    for message in status.get("messages") or ():
        if not (isinstance(message, list) and len(message) == 2 and isinstance(message[1], Mapping)):
            continue
        data = {"prompt_id": prompt_id, **message[1]}
        try:
            if message[0] == "execution_error":
                error = _ERROR.validate_python(data)
            elif message[0] == "execution_interrupted":
                interrupted = _INTERRUPTED.validate_python(data)
        except ValidationError as exc:
            raise ComfyProtocolError(f"history message {message[0]} has invalid fields") from exc
    return HistoryEntry(
        prompt_id=prompt_id,
        status=str(status.get("status_str", "")),
        completed=bool(status.get("completed", False)),
        outputs={str(node): files_in_output(out) for node, out in outputs_raw.items() if isinstance(out, Mapping)},
        texts={
            str(node): found
            for node, out in outputs_raw.items()
            if isinstance(out, Mapping) and (found := texts_in_output(out))
        },
        error=error,
        interrupted=interrupted,
    )


def parse_history(raw: Any) -> dict[str, HistoryEntry]:
    _require(isinstance(raw, Mapping), "/history is not an object")
    return {str(pid): _history_entry(str(pid), entry) for pid, entry in raw.items()}


def parse_system_stats(raw: Any) -> SystemStats:
    _require(isinstance(raw, Mapping) and isinstance(raw.get("system"), Mapping), "/system_stats.system")
    system = raw["system"]
    devices = tuple(
        Device(
            name=str(dev.get("name", "")),
            type=str(dev.get("type", "")),
            vram_total=_bytes(dev.get("vram_total")),
            vram_free=_bytes(dev.get("vram_free")),
        )
        for dev in _list(raw.get("devices"))
        if isinstance(dev, Mapping)
    )
    return SystemStats(
        comfyui_version=str(system.get("comfyui_version", "")),
        ram_total=_bytes(system.get("ram_total")),
        ram_free=_bytes(system.get("ram_free")),
        devices=devices,
    )


def _bytes(value: Any) -> int:
    """A size in bytes; 0 when the server sends something else (these are informational)."""
    number = _number(value)
    return int(number) if number is not None and math.isfinite(number) else 0


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _input_spec(raw: Any) -> InputSpec:
    if not isinstance(raw, list) or not raw:
        return InputSpec(type="*")
    head = raw[0]
    options = raw[1] if len(raw) > 1 and isinstance(raw[1], Mapping) else {}
    declared = options.get("control_after_generate")
    control = bool(declared) if declared is not None else None
    force = bool(options.get("forceInput", False))
    if isinstance(head, list):  # combo: [[choices...], {options}]
        choices = tuple(str(c) for c in head)
        return InputSpec("COMBO", choices, options.get("default"), control_after_generate=control, force_input=force)
    if head == "COMBO" and isinstance(options.get("options"), list):  # newer servers
        choices = tuple(str(c) for c in options["options"])
        return InputSpec("COMBO", choices, options.get("default"), control_after_generate=control, force_input=force)
    return InputSpec(
        type=str(head),
        default=options.get("default"),
        min=_number(options.get("min")),
        max=_number(options.get("max")),
        step=_number(options.get("step")),
        control_after_generate=control,
        force_input=force,
    )


def parse_object_info(raw: Any) -> dict[str, NodeInfo]:
    _require(isinstance(raw, Mapping), "/object_info is not an object")
    nodes = {}
    for name, info in raw.items():
        if not isinstance(info, Mapping):
            continue
        inputs = _obj(info.get("input"))
        required, optional = _obj(inputs.get("required")), _obj(inputs.get("optional"))
        nodes[str(name)] = NodeInfo(
            name=str(name),
            required={str(k): _input_spec(v) for k, v in required.items()},
            optional={str(k): _input_spec(v) for k, v in optional.items()},
            outputs=tuple(str(x) for x in info.get("output") or ()),
            output_node=bool(info.get("output_node", False)),
            display_name=str(info.get("display_name") or name),
            api_node=info.get("api_node") is True,
        )
    return nodes


def parse_upload(raw: Any) -> UploadedFile:
    _require(isinstance(raw, Mapping) and isinstance(raw.get("name"), str), "/upload/image name")
    return UploadedFile(name=raw["name"], subfolder=str(raw.get("subfolder", "")), type=str(raw.get("type", "input")))
