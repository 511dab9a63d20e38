"""ComfyUI's nodes that read a model file when they run (nodes.py and comfy_extras), with the input that names
the file: what a graph needs loaded, and so what a server has warm after running it (ComfyUI keeps the last
prompt's nodes cached: a loader with the same inputs is answered from cache, `execution_cached`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

LOADERS = {
    "CheckpointLoaderSimple": "ckpt_name",
    "CheckpointLoader": "ckpt_name",
    "ImageOnlyCheckpointLoader": "ckpt_name",
    "unCLIPCheckpointLoader": "ckpt_name",
    "UNETLoader": "unet_name",
    "CLIPLoader": "clip_name",
    "VAELoader": "vae_name",
    "LoraLoader": "lora_name",
    "LoraLoaderModelOnly": "lora_name",
    "ControlNetLoader": "control_net_name",
    "UpscaleModelLoader": "model_name",
}


def models_of(graph: Mapping[str, Any]) -> frozenset[str]:
    """The model files a graph's loaders name, as "LoaderClass:file" (a file given by value, not by a link)."""
    found = set()
    for body in graph.values():
        if not isinstance(body, dict):
            continue
        field = LOADERS.get(str(body.get("class_type")))
        value = (body.get("inputs") or {}).get(field) if field else None
        if isinstance(value, str):
            found.add(f"{body['class_type']}:{value}")
    return frozenset(found)
