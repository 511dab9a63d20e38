"""Can this backend run this template? Checked against the backend's `/object_info`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.comfy.models import InputSpec, NodeInfo
from bot.i18n import excerpt

from .params import FILE_TYPES
from .template import Template

# inputs that name a model file: "not present" rather than "not offered" (clip_name1..4 of the Dual, Triple and
# Quadruple CLIP loaders included)
MODEL_INPUT = re.compile(r"^(ckpt|unet|lora|vae|clip|clip_vision|model|control_net|style_model|upscale_model)_name\d?$")


@dataclass(frozen=True)
class TemplateReport:
    template: str
    backend: str
    problems: tuple[str, ...]
    # Choices the backend offers for choice parameters (models, samplers, schedulers), for menus and checks.
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def runnable(self) -> bool:
        return not self.problems


def _spec(info: NodeInfo, name: str) -> InputSpec | None:
    return info.required.get(name) or info.optional.get(name)


def _value_problem(where: str, name: str, spec: InputSpec, value: Any, backend: str) -> str | None:
    if spec.choices is not None:
        if isinstance(value, str) and value not in spec.choices:
            what = "is not present on" if MODEL_INPUT.match(name) else "is not offered by"
            return f"{where}: {name} {excerpt(value)!r} {what} {backend}"
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if spec.min is not None and value < spec.min:
        return f"{where}: {name} {value} is below the minimum {spec.min:g}"
    if spec.max is not None and value > spec.max:
        return f"{where}: {name} {value} is above the maximum {spec.max:g}"
    return None


def validate_template(template: Template, object_info: Mapping[str, NodeInfo], backend: str) -> TemplateReport:
    problems: list[str] = []
    choices: dict[str, tuple[str, ...]] = {}
    image_targets = {
        (t.node_id, t.input) for p in template.parameters.values() if p.type in FILE_TYPES for t in p.targets
    }
    for node in template.workflow:
        info = object_info.get(node.class_type)
        where = f"node {node.id} ({node.class_type})"
        if info is None:
            problems.append(f"{where}: node type {node.class_type} is not installed on {backend}")
            continue
        for name, value in node.inputs.items():
            spec = _spec(info, name)
            if spec is None or node.link(name) is not None or (node.id, name) in image_targets:
                continue
            problem = _value_problem(where, name, spec, value, backend)
            if problem:
                problems.append(problem)
    for param in template.parameters.values():
        first = param.targets[0]
        node = template.workflow.nodes[first.node_id]
        info = object_info.get(node.class_type)
        spec = _spec(info, first.input) if info else None
        if spec is None:
            continue
        if spec.choices is not None and param.type == "choice":
            choices[param.name] = spec.choices
        if param.default is not None and param.type != "image":
            problem = _value_problem(f"parameter {param.name}", first.input, spec, param.default, backend)
            if problem:
                problems.append(problem)
    return TemplateReport(template.name, backend, tuple(problems), choices)
