"""Parameters inferred from a graph that has no manifest.

Rules (each choice among several candidates is reported as a warning):
- The primary sampler is the head of a sampler chain: a sampler whose latent does not come from another sampler.
  Among several heads, the lowest node id. Samplers further down its chain (an SDXL refiner) get the same seed,
  steps and prompt texts where their current values equal the primary's.
- seed (or noise_seed), steps, cfg, sampler_name, scheduler, denoise come from the sampler, or for SamplerCustom
  and SamplerCustomAdvanced from the nodes it links (RandomNoise, CFGGuider, KSamplerSelect, BasicScheduler).
- prompt and negative: follow the sampler's positive and negative links back through conditioning nodes to the
  first node with text inputs (text, text_g, text_l; all of them are targets). When conditioning combines
  several encoders, the first input wins.
- width, height, batch_size: the latent source (any node with literal width/height). An image input instead,
  when the latent comes through VAEEncode from a LoadImage.
- length (frames), for a video latent or image-to-video node that has one; fps from CreateVideo (or an
  animated save).
- an input linked from a primitive node (PrimitiveInt, PrimitiveFloat, PrimitiveStringMultiline, ...) targets
  the primitive's value: a seed a PrimitiveInt drives is the seed.
- model: follow `model` links back (through LoRA loaders) to the checkpoint or UNet loader.
- lora, lora_strength (lora_2, ...): each LoRA loader on the model's path, nearest the loader first.
- Without a sampler, every LoadImage becomes an image parameter (image, image_2, ...).
- Every LoadAudio becomes an audio parameter (audio, audio_2, ...): a sound the member attaches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .params import Parameter, ParamType, Target
from .workflow import Node, Workflow

SAMPLERS = ("KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced")
MODEL_LOADERS = {
    "CheckpointLoaderSimple": "ckpt_name",
    "CheckpointLoader": "ckpt_name",
    "ImageOnlyCheckpointLoader": "ckpt_name",
    "UNETLoader": "unet_name",
    "UnetLoaderGGUF": "unet_name",
}
# where encoders take their text: CLIPTextEncode (text), SDXL (text_g, text_l), Flux (clip_l, t5xxl), Qwen
# image edit (prompt), ACE-Step audio (tags)
TEXT_INPUTS = ("text", "text_g", "text_l", "clip_l", "t5xxl", "prompt", "tags")
STRING_SOURCES = ("value", "text", "string", "string_a")  # where a string primitive or string node holds its text
IMAGE_LOADERS = ("LoadImage",)
AUDIO_LOADERS = ("LoadAudio",)
# name: (type, min, max, description)
ROLES: dict[str, tuple[ParamType, float | None, float | None, str]] = {
    "prompt": ("text", None, None, "what to draw"),
    "negative": ("text", None, None, "what to avoid"),
    "seed": ("int", 0, 2**64 - 1, "noise seed; -1 or empty for a random one"),
    "steps": ("int", 1, 10000, "sampling steps"),
    "cfg": ("float", 0, 100, "how closely to follow the prompt"),
    "sampler_name": ("choice", None, None, "sampling method"),
    "scheduler": ("choice", None, None, "noise schedule"),
    "denoise": ("float", 0, 1, "how much to change the input"),
    "width": ("int", 16, 16384, "image width in pixels"),
    "height": ("int", 16, 16384, "image height in pixels"),
    "batch_size": ("int", 1, 64, "images per run"),
    "model": ("choice", None, None, "checkpoint"),
    "image": ("image", None, None, "input image"),
    "audio": ("audio", None, None, "input sound"),
    "length": ("int", 1, 10000, "frames"),
    "fps": ("float", 1, 120, "frames per second"),
    "lora": ("choice", None, None, "LoRA"),
    "lora_strength": ("float", -10, 10, "LoRA strength"),
}
FPS_NODES = ("CreateVideo", "SaveAnimatedWEBP", "SaveAnimatedPNG")
LORA_LOADERS = ("LoraLoader", "LoraLoaderModelOnly")


@dataclass
class Inference:
    workflow: Workflow
    targets: dict[str, list[Target]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add(self, role: str, node: Node | None, input_name: str) -> None:
        if node is None or input_name not in node.inputs:
            return
        source = self.workflow.source(node, input_name)
        if source is not None and source.class_type.startswith("Primitive") and source.literal("value") is not None:
            node, input_name = source, "value"  # the primitive drives it: its value is the parameter
        if node.link(input_name) is not None:
            self.warnings.append(f"{role}: {node.class_type} (node {node.id}).{input_name} is linked; not exposed")
            return
        self.targets.setdefault(role, [])
        target = Target(node.id, input_name)
        if target not in self.targets[role]:
            self.targets[role].append(target)

    def parameters(self) -> tuple[Parameter, ...]:
        params = []
        for role, targets in self.targets.items():
            kind, low, high, description = ROLES.get(
                role.rsplit("_", 1)[0] if role[-1].isdigit() else role, ROLES["image"]
            )
            params.append(
                Parameter(
                    role, kind, tuple(targets), None, low, high, (), description, random_when_missing=role == "seed"
                )
            )
        return tuple(params)


def _walk(workflow: Workflow, start: Node | None, follow: tuple[str, ...], found: Any, depth: int = 8) -> Node | None:
    """Depth-first back along links named in `follow` (all inputs when empty) until `found(node)`, at most
    `depth` nodes deep; the first input wins. Each node is searched once from the most depth left to it (a graph
    whose links fan out and meet again is walked in linear time, not once per path)."""
    searched: dict[str, int] = {}  # node id -> the most depth it was searched with (and nothing found)

    def search(node: Node | None, left: int) -> Node | None:
        if node is None or left == 0 or searched.get(node.id, 0) >= left:
            return None
        if found(node):
            return node
        searched[node.id] = left
        for name in follow or tuple(node.inputs):
            result = search(workflow.source(node, name), left - 1)
            if result is not None:
                return result
        return None

    return search(start, depth)


def _has_text(node: Node) -> bool:
    return any(isinstance(node.inputs.get(name), str) or node.link(name) for name in TEXT_INPUTS if name in node.inputs)


def _encoder(workflow: Workflow, start: Node | None) -> Node | None:
    """Back from a conditioning link to the node holding the text, skipping CLIP/model/image branches; depth
    first, the first input wins, each node searched once (iteratively: a chain may be thousands long)."""
    seen: set[str] = set()
    stack = [start]
    while stack:
        node = stack.pop()
        if node is None or node.id in seen:
            continue
        seen.add(node.id)
        if _has_text(node):
            return node
        links = [n for n in node.inputs if node.link(n) and n not in ("clip", "model", "vae", "image")]
        stack.extend(workflow.source(node, name) for name in reversed(links))
    return None


def _add_text(inference: Inference, workflow: Workflow, role: str, encoder: Node | None) -> None:
    if encoder is None:
        return
    for name in TEXT_INPUTS:
        if name not in encoder.inputs:
            continue
        source = _walk(  # a string primitive feeding the encoder (through string nodes): target the primitive
            workflow,
            workflow.source(encoder, name),
            (),
            lambda n: any(isinstance(n.inputs.get(i), str) for i in STRING_SOURCES),
            depth=4,
        )
        if source is not None:
            inference.add(role, source, next(i for i in STRING_SOURCES if isinstance(source.inputs.get(i), str)))
            continue
        inference.add(role, encoder, name)


@dataclass
class SamplerParts:
    sampler: Node
    values: dict[str, Node | None]  # role -> node holding that input
    positive: Node | None
    negative: Node | None
    latent: Node | None
    model: Node | None


def _parts(workflow: Workflow, sampler: Node) -> SamplerParts:
    def src(node: Node | None, name: str) -> Node | None:
        return workflow.source(node, name) if node else None

    kind = sampler.class_type
    if kind == "SamplerCustomAdvanced":
        guider, noise = src(sampler, "guider"), src(sampler, "noise")
        select, sigmas = src(sampler, "sampler"), src(sampler, "sigmas")
        positive = src(guider, "positive") or src(guider, "conditioning") or src(guider, "cond1")
        values = {
            "seed": noise,
            "cfg": guider,
            "sampler_name": select,
            "steps": sigmas,
            "scheduler": sigmas,
            "denoise": sigmas,
        }
        return SamplerParts(
            sampler,
            values,
            positive,
            src(guider, "negative"),
            src(sampler, "latent_image"),
            src(guider, "model") or src(sigmas, "model"),
        )
    if kind == "SamplerCustom":
        select, sigmas = src(sampler, "sampler"), src(sampler, "sigmas")
        values = {
            "seed": sampler,
            "cfg": sampler,
            "sampler_name": select,
            "steps": sigmas,
            "scheduler": sigmas,
            "denoise": sigmas,
        }
    else:
        values = {role: sampler for role in ("seed", "steps", "cfg", "sampler_name", "scheduler", "denoise")}
    return SamplerParts(
        sampler,
        values,
        src(sampler, "positive"),
        src(sampler, "negative"),
        src(sampler, "latent_image"),
        src(sampler, "model"),
    )


def _seed_input(node: Node) -> str:
    return "noise_seed" if "noise_seed" in node.inputs else "seed"


def _add_sampler_values(inference: Inference, parts: SamplerParts) -> None:
    for role, node in parts.values.items():
        if node is not None:
            inference.add(role, node, _seed_input(node) if role == "seed" else role)


def _add_latent(inference: Inference, workflow: Workflow, latent: Node | None) -> None:
    source = _walk(
        workflow,
        latent,
        ("samples", "pixels", "image", "latent"),
        lambda n: isinstance(n.inputs.get("width"), int) or n.class_type in IMAGE_LOADERS,
    )
    if source is None:
        return
    if source.class_type in IMAGE_LOADERS:
        inference.add("image", source, "image")
        return
    for role in ("width", "height", "batch_size", "length"):
        inference.add(role, source, role)


def _chain_heads(workflow: Workflow, samplers: list[Node]) -> tuple[list[Node], dict[str, list[Node]]]:
    """Samplers that start a chain, and for each the samplers that continue from it."""
    ids = {s.id for s in samplers}
    heads: dict[str, Node] = {}

    def head_of(sampler: Node) -> Node:
        chain: dict[str, Node] = {}  # followed in a loop, each sampler's head found once
        node = sampler
        while node.id not in heads and node.id not in chain:
            chain[node.id] = node
            # along latents only: a sampler whose latent comes from another continues it (an SDXL refiner); one
            # that takes an image another sampler made (a depth map) starts its own chain
            latent = _parts(workflow, node).latent
            upstream = _walk(workflow, latent, ("latent_image", "samples", "latent"), lambda n: n.id in ids)
            if upstream is None or upstream.id == node.id:
                heads[node.id] = node
                break
            node = upstream
        head = heads.get(node.id, node)
        for passed in chain:
            heads[passed] = head
        return head

    chains: dict[str, list[Node]] = {}
    for sampler in samplers:
        head = head_of(sampler)
        chains.setdefault(head.id, [])
        if head.id != sampler.id:
            chains[head.id].append(sampler)
    return sorted((workflow.nodes[i] for i in chains), key=lambda n: (len(n.id), n.id)), chains


def _follow_chain(inference: Inference, workflow: Workflow, primary: SamplerParts, others: list[Node]) -> None:
    for other in others:
        parts = _parts(workflow, other)
        inference.warnings.append(
            f"node {other.id} ({other.class_type}) continues from node {primary.sampler.id}: it gets the same "
            "seed, steps and prompt where its values match"
        )
        for role in ("seed", "steps"):
            mine, theirs = primary.values.get(role), parts.values.get(role)
            if mine is not None and theirs is not None:
                name = _seed_input(theirs) if role == "seed" else role
                if theirs.literal(name) == mine.literal(_seed_input(mine) if role == "seed" else role):
                    inference.add(role, theirs, name)
        for role, mine_link, theirs_link in (
            ("prompt", primary.positive, parts.positive),
            ("negative", primary.negative, parts.negative),
        ):
            mine_enc, theirs_enc = _encoder(workflow, mine_link), _encoder(workflow, theirs_link)
            if mine_enc is None or theirs_enc is None or mine_enc.id == theirs_enc.id:
                continue
            texts = {mine_enc.literal(n) for n in TEXT_INPUTS if n in mine_enc.inputs}
            if any(theirs_enc.literal(n) in texts for n in TEXT_INPUTS if n in theirs_enc.inputs):
                _add_text(inference, workflow, role, theirs_enc)


def _add_loras(inference: Inference, workflow: Workflow, start: Node | None) -> None:
    """The LoRA loaders on the model's path back from the sampler, nearest the checkpoint first."""
    found: list[Node] = []
    node, depth = start, 0
    while node is not None and depth < 16 and node.class_type not in MODEL_LOADERS:
        if node.class_type in LORA_LOADERS:
            found.append(node)
        node, depth = workflow.source(node, "model"), depth + 1
    for index, loader in enumerate(reversed(found)):
        suffix = "" if index == 0 else f"_{index + 1}"
        inference.add(f"lora{suffix}", loader, "lora_name")
        inference.add(f"lora_strength{suffix}", loader, "strength_model")
        if "strength_clip" in loader.inputs:
            inference.add(f"lora_strength{suffix}", loader, "strength_clip")


def infer(workflow: Workflow) -> tuple[tuple[Parameter, ...], tuple[str, ...]]:
    """The parameters of a graph without a manifest, and warnings about every choice made."""
    inference = Inference(workflow)
    for index, node in enumerate(n for n in workflow if n.class_type in AUDIO_LOADERS):
        inference.add("audio" if index == 0 else f"audio_{index + 1}", node, "audio")
    samplers = [node for node in workflow if node.class_type in SAMPLERS]
    if not samplers:
        loaders = [node for node in workflow if node.class_type in IMAGE_LOADERS]
        for index, node in enumerate(loaders):
            inference.add("image" if index == 0 else f"image_{index + 1}", node, "image")
        if not loaders and "audio" not in inference.targets:
            inference.warnings.append("no sampler and no image or audio input: nothing to set")
        return inference.parameters(), tuple(inference.warnings)

    heads, chains = _chain_heads(workflow, samplers)
    primary_node = heads[0]
    if len(heads) > 1:
        others = ", ".join(f"{n.id} ({n.class_type})" for n in heads[1:])
        inference.warnings.append(
            f"{len(heads)} independent samplers; using node {primary_node.id} (the lowest id); not exposed: {others}"
        )
    primary = _parts(workflow, primary_node)
    _add_text(inference, workflow, "prompt", _encoder(workflow, primary.positive))
    _add_text(inference, workflow, "negative", _encoder(workflow, primary.negative))
    _add_sampler_values(inference, primary)
    _add_latent(inference, workflow, primary.latent)
    loader = _walk(workflow, primary.model, ("model",), lambda n: n.class_type in MODEL_LOADERS)
    if loader is not None:
        inference.add("model", loader, MODEL_LOADERS[loader.class_type])
    _add_loras(inference, workflow, primary.model)
    for node in workflow:
        if node.class_type in FPS_NODES and "fps" not in inference.targets:
            inference.add("fps", node, "fps")
    _follow_chain(inference, workflow, primary, chains[primary_node.id])
    for role in ("prompt",):
        if role not in inference.targets:
            inference.warnings.append(f"no {role} found: no text encoder on the sampler's positive input")
    return inference.parameters(), tuple(inference.warnings)
