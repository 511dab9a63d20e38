"""A template: a workflow, its parameters and output nodes; `bind()` makes the graph for one job."""

from __future__ import annotations

import mimetypes
import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, Protocol

from bot.comfy.models import UploadedFile

from .errors import BindError
from .loras import add_loras
from .params import FILE_TYPES, ImageData, Parameter
from .workflow import Workflow

# The nodes whose results a member gets are those a server flags `output_node` in `/object_info` (custom ones
# too: VideoHelperSuite's "Video Combine" reports `{"gifs": [...]}`); before any server has answered, ComfyUI's
# own, by what they save: images and animations, video, audio (comfy_extras/nodes_video.py, nodes_audio.py), 3D
# models and text (PreviewAny's `{"text": [...]}`). Previews count only where nothing else is an output, and
# output nodes that give a member nothing (a model or latent saved on the server) never do.
SAVE_NODES = (
    "SaveImage",
    "SaveAnimatedWEBP",
    "SaveAnimatedPNG",
    "Image Save",
    "SaveVideo",
    "SaveWEBM",
    "SaveAudio",
    "SaveAudioMP3",
    "SaveAudioOpus",
    "SaveGLB",  # a 3D model: attached as a file to download
    "SaveSVGNode",
)
PREVIEW_NODES = ("PreviewImage", "PreviewAudio", "MaskPreview")
TEXT_NODES = ("PreviewAny", "SaveText")  # shown in the result's embed, beside the files
NOT_FOR_MEMBERS = frozenset(  # flagged output nodes of ComfyUI 0.3.64 that give a member no file to attach
    {
        "SaveLatent",
        "CheckpointSave",
        "ImageOnlyCheckpointSave",
        "CLIPSave",
        "VAESave",
        "ModelSave",
        "LoraSave",
        "SaveLoRANode",
        "SaveImageWebsocket",  # its images come over the WebSocket, not as files
        "Preview3D",  # the frontend's viewer of a model file already saved
        "Preview3DAnimation",
    }
)
LORAS = "loras"  # the value a member's added LoRAs are bound as: [[name, strength], ...]
SEED_MAX = 2**53 - 1  # random seeds stay exact in JSON and in Discord's integer options


class ImageUploader(Protocol):
    """Where a job's attached images go before its graph is submitted (a ComfyUI server)."""

    async def upload_image(
        self, data: bytes, filename: str, *, subfolder: str, overwrite: bool, content_type: str
    ) -> UploadedFile: ...


@dataclass(frozen=True)
class BoundWorkflow:
    """One job's graph. `values` holds what every parameter was bound to (the random seed included)."""

    template: str
    graph: dict[str, Any]
    values: Mapping[str, Any]
    output_nodes: tuple[str, ...]
    images: Mapping[str, ImageData] = field(default_factory=dict)
    targets: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    expected_seconds: float | None = None  # its template's manifest `gpu_seconds` (the fair queue's first guess)

    async def upload_images(self, uploader: ImageUploader, job_key: str) -> dict[str, Any]:
        """Upload the attached images under names unique to the job and return the graph that uses them."""
        graph = {node: {**body, "inputs": dict(body.get("inputs", {}))} for node, body in self.graph.items()}
        for name, image in self.images.items():
            suffix = PurePath(image.filename).suffix.lower() or ".png"
            uploaded = await uploader.upload_image(
                image.data,
                f"{job_key}-{name}{suffix}",
                subfolder="discord-bot",
                overwrite=True,
                content_type=mimetypes.guess_type(f"file{suffix}")[0] or "application/octet-stream",
            )
            for node_id, input_name in self.targets[name]:
                graph[node_id]["inputs"][input_name] = uploaded.ref.as_input()
        return graph


@dataclass(frozen=True)
class Template:
    name: str
    display_name: str
    description: str
    workflow: Workflow
    parameters: Mapping[str, Parameter]
    output_nodes: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    has_manifest: bool = False
    nsfw: bool = False  # the manifest says its results are for age-restricted channels (spoilered elsewhere)
    converted: bool = False  # the file is a UI-format export, converted with the servers' node definitions
    max_loras: int = 0  # LoRAs a member may add (the manifest's `loras`), inserted after the model loader
    gpu_seconds: float | None = None  # the manifest's: a job's GPU time, expected until one is measured

    def default_of(self, name: str) -> Any:
        """What a parameter is when a member does not give it (its manifest's default, else the workflow's own
        value), read without binding."""
        param = self.parameters[name]
        if param.default is not None:
            return param.default
        target = param.targets[0]
        return self.workflow.nodes[target.node_id].inputs.get(target.input)

    def bind(self, values: Mapping[str, Any], *, rng: random.Random | None = None) -> BoundWorkflow:
        """A deep copy of the graph with every given value set by value (never by text). Unknown parameters,
        wrong types and values out of bounds raise `BindError` naming the parameter and what it accepts."""
        loras = [(str(name), float(strength)) for name, strength in values.get(LORAS, ())]
        if len(loras) > self.max_loras:
            raise BindError("bind.too_many_loras", template=self.name, count=len(loras), allowed=self.max_loras)
        unknown = sorted(set(values) - set(self.parameters) - {LORAS})
        if unknown:
            known = ", ".join(self.parameters) or "none"
            raise BindError("bind.unknown_options", template=self.name, unknown=", ".join(unknown), known=known)
        graph = self.workflow.copy_graph()
        bound: dict[str, Any] = {}
        images: dict[str, ImageData] = {}
        for param in self.parameters.values():
            value = values.get(param.name, param.default)
            if param.random_when_missing and (value is None or str(value).strip() == "-1"):  # -1, or "--seed -1"
                value = (rng or random.SystemRandom()).randint(0, SEED_MAX)
            if value is None:
                if param.type in FILE_TYPES:
                    raise BindError(f"bind.needs_{param.type}", template=self.name, parameter=param.name)
                bound[param.name] = graph[param.targets[0].node_id]["inputs"][param.targets[0].input]
                continue
            value = param.check(value)
            bound[param.name] = value
            if isinstance(value, ImageData):
                images[param.name] = value
                continue
            for target in param.targets:
                graph[target.node_id]["inputs"][target.input] = value
        if loras:
            add_loras(graph, loras)
            bound[LORAS] = [[name, strength] for name, strength in loras]
        targets = {name: tuple((t.node_id, t.input) for t in self.parameters[name].targets) for name in images}
        return BoundWorkflow(self.name, graph, bound, self.output_nodes, images, targets, self.gpu_seconds)


def output_nodes(workflow: Workflow, named: tuple[str, ...], flagged: Collection[str] | None = None) -> tuple[str, ...]:
    """The nodes whose outputs are the results: named ones; else the output nodes (`flagged`: the node classes a
    server flags `output_node`; None before any server answered: ComfyUI's own Save nodes), previews only where
    there is nothing else, with the text outputs."""
    if named:
        return named
    outputs = [
        node
        for node in workflow
        if node.class_type not in NOT_FOR_MEMBERS
        and (
            node.class_type in TEXT_NODES
            or node.class_type in PREVIEW_NODES
            or (node.class_type in SAVE_NODES if flagged is None else node.class_type in flagged)
        )
    ]
    texts = tuple(node.id for node in outputs if node.class_type in TEXT_NODES)
    files = [node for node in outputs if node.class_type not in TEXT_NODES]
    saved = tuple(node.id for node in files if node.class_type not in PREVIEW_NODES)
    return (saved or tuple(node.id for node in files)) + texts
