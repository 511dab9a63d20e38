"""LoRAs a member adds to a template's graph (a manifest's `loras = N`): each becomes a loader right after the
model loader, and what used the loader's model (and CLIP) uses the LoRA's. A checkpoint gets LoraLoader
(model and CLIP), a diffusion model alone (UNETLoader) gets LoraLoaderModelOnly; several chain in order, the
first nearest the model, as ComfyUI's examples chain them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LORA_HOSTS = {  # model loader -> (its MODEL output, its CLIP output or None)
    "CheckpointLoaderSimple": (0, 1),
    "CheckpointLoader": (0, 1),
    "UNETLoader": (0, None),
    "UnetLoaderGGUF": (0, None),
}


def add_loras(graph: dict[str, Any], loras: Sequence[tuple[str, float]]) -> None:
    """Insert the LoRAs (name, strength) after the graph's first model loader, in place."""
    hosts = [n for n, body in graph.items() if body.get("class_type") in LORA_HOSTS]
    if not hosts or not loras:
        return
    host = min(hosts, key=lambda node_id: (len(node_id), node_id))
    model_out, clip_out = LORA_HOSTS[graph[host]["class_type"]]
    model, clip = [host, model_out], ([host, clip_out] if clip_out is not None else None)
    added: list[str] = []
    for index, (name, strength) in enumerate(loras, start=1):
        node_id = f"lora-{index}"
        inputs: dict[str, Any] = {"model": model, "lora_name": name, "strength_model": strength}
        if clip is not None:
            inputs |= {"clip": clip, "strength_clip": strength}
        kind = "LoraLoader" if clip is not None else "LoraLoaderModelOnly"
        graph[node_id] = {"class_type": kind, "inputs": inputs, "_meta": {"title": f"LoRA {index}"}}
        model, clip = [node_id, 0], ([node_id, 1] if clip is not None else None)
        added.append(node_id)
    for node_id, body in graph.items():  # what used the loader's model and CLIP uses the last LoRA's
        if node_id in added:
            continue
        for name, value in list(body.get("inputs", {}).items()):
            if value == [host, model_out]:
                body["inputs"][name] = model
            elif clip_out is not None and value == [host, clip_out]:
                body["inputs"][name] = clip
