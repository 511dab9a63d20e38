"""The optional manifest `workflows/NAME.toml`: display name, description, parameters and their targets.

name = "Text to image"
description = "A picture from a prompt"
nsfw = false                                  # true: results are spoilered outside age-restricted channels
outputs = ["Save Image"]                      # optional: output nodes, by title or id
loras = 2                                     # optional: members may add up to 2 LoRAs (<lora:name:0.8>)
gpu_seconds = 30                              # optional: a job's GPU time, expected until the bot has measured one

[[parameters]]
name = "prompt"
type = "text"                                 # text, int, float, choice, bool, image
description = "What to draw"
targets = [{ title = "Positive", input = "text" }]    # or { node = "6", input = "text" }

[[parameters]]
name = "steps"
type = "int"
default = 20
min = 1
max = 60
targets = [{ node = "3", input = "steps" }]
"""

from __future__ import annotations

import tomllib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import BindError, TemplateLoadError
from .loras import LORA_HOSTS
from .params import Parameter, ParamType, Target
from .workflow import Node, Workflow


class TargetModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    node: str | None = None
    input: str

    @model_validator(mode="after")
    def _one_way(self) -> TargetModel:
        if (self.title is None) == (self.node is None):
            raise ValueError("a target names either a title or a node id, and an input")
        return self


class ParameterModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    type: ParamType
    description: str = ""
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: list[str] = Field(default_factory=list)
    random: bool = False
    targets: list[TargetModel] = Field(min_length=1)


class ManifestModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    description: str = ""
    nsfw: bool = False
    outputs: list[str] = Field(default_factory=list)
    loras: int = Field(default=0, ge=0, le=8)
    gpu_seconds: float | None = Field(default=None, gt=0, le=86400)
    parameters: list[ParameterModel] = Field(default_factory=list)


class Manifest:
    def __init__(
        self,
        display_name: str | None,
        description: str,
        parameters: tuple[Parameter, ...],
        outputs: tuple[str, ...],
        nsfw: bool = False,
        loras: int = 0,
        gpu_seconds: float | None = None,
    ) -> None:
        self.nsfw, self.loras, self.gpu_seconds = nsfw, loras, gpu_seconds
        self.display_name = display_name
        self.description = description
        self.parameters = parameters
        self.outputs = outputs


def _describe(exc: ValidationError) -> str:
    parts = []
    for item in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def _node(file: str, workflow: Workflow, param: str, target: TargetModel) -> Node:
    if target.node is not None:
        node = workflow.nodes.get(target.node)
        if node is None:
            ids = ", ".join(sorted(workflow.nodes, key=lambda n: (len(n), n)))
            raise TemplateLoadError(file, f"parameter '{param}': no node {target.node}; the nodes are {ids}")
        return node
    matches = workflow.by_title(target.title or "")
    if not matches:
        titles = ", ".join(sorted({repr(n.title) for n in workflow if n.title}))
        raise TemplateLoadError(file, f"parameter '{param}': no node titled {target.title!r}; titles are {titles}")
    if len(matches) > 1:
        ids = ", ".join(f"{n.id} ({n.class_type})" for n in matches)
        raise TemplateLoadError(
            file, f"parameter '{param}': title {target.title!r} matches several nodes: {ids}; target one by node id"
        )
    return matches[0]


def _resolve(file: str, workflow: Workflow, model: ParameterModel) -> Parameter:
    targets = []
    for target in model.targets:
        node = _node(file, workflow, model.name, target)
        if target.input not in node.inputs:
            known = ", ".join(node.inputs)
            raise TemplateLoadError(
                file,
                f"parameter '{model.name}': node {node.id} ({node.class_type}) has no input '{target.input}';"
                f" it has: {known}",
            )
        targets.append(Target(node.id, target.input))
    param = Parameter(
        name=model.name,
        type=model.type,
        targets=tuple(targets),
        default=model.default,
        min=model.min,
        max=model.max,
        choices=tuple(model.choices),
        description=model.description,
        random_when_missing=model.random or model.name == "seed",
    )
    if model.default is not None and model.type != "image":
        try:
            param.check(model.default)
        except BindError as exc:
            raise TemplateLoadError(file, f"parameter '{model.name}': its default does not fit: {exc}") from None
    return param


def parse_manifest(file: str, text: str, workflow: Workflow) -> Manifest:
    try:
        model = ManifestModel.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise TemplateLoadError(file, f"broken TOML: {exc}") from None
    except ValidationError as exc:
        raise TemplateLoadError(file, _describe(exc)) from None
    names = [p.name for p in model.parameters]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise TemplateLoadError(file, f"parameter(s) defined twice: {', '.join(duplicates)}")
    parameters = tuple(_resolve(file, workflow, p) for p in model.parameters)
    outputs = []
    for output in model.outputs:
        node = workflow.nodes.get(output)
        matches = [node] if node else workflow.by_title(output)
        if len(matches) != 1:
            raise TemplateLoadError(file, f"output {output!r} matches {len(matches)} nodes; name one node id or title")
        outputs.append(matches[0].id)
    if model.loras and not any(node.class_type in LORA_HOSTS for node in workflow):
        raise TemplateLoadError(
            file, f"loras = {model.loras}, but no model loader ({', '.join(LORA_HOSTS)}) to add them to"
        )
    return Manifest(
        model.name, model.description, parameters, tuple(outputs), model.nsfw, model.loras, model.gpu_seconds
    )
