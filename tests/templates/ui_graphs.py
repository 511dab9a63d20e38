"""Hand-made UI-format exports, in the shape ComfyUI's frontend saves them (`nodes` with their input and output
slots and `widgets_values`, `links` as `[id, origin, slot, target, slot, type]` at the root and as objects in a
subgraph definition), for the conversion tests: each test adds the nodes of the rule it shows."""

from __future__ import annotations

import itertools
from typing import Any

Json = dict[str, Any]


class UiGraph:
    """One graph (the root, or a subgraph's contents)."""

    def __init__(self, *, link_ids: itertools.count[int] | None = None, object_links: bool = False) -> None:
        self.nodes: list[Json] = []
        self.links: list[Any] = []
        self._ids = link_ids or itertools.count(1)
        self._objects = object_links

    def node(
        self,
        node_id: int,
        kind: str,
        *,
        inputs: tuple[tuple[str, str] | tuple[str, str, str], ...] = (),
        outputs: tuple[tuple[str, str], ...] = (),
        widgets: list[Any] | None = None,
        mode: int = 0,
        title: str | None = None,
    ) -> Json:
        """`inputs`: (name, type) for a socket, (name, type, widget name) for a widget shown as an input."""
        made: Json = {
            "id": node_id,
            "type": kind,
            "pos": [0, 0],
            "size": [300, 100],
            "flags": {},
            "order": len(self.nodes),
            "mode": mode,
            "inputs": [
                {"name": i[0], "type": i[1], "link": None, **({"widget": {"name": i[2]}} if len(i) > 2 else {})}
                for i in inputs
            ],
            "outputs": [{"name": name, "type": kind_, "links": []} for name, kind_ in outputs],
            "properties": {"Node name for S&R": kind},
        }
        if widgets is not None:
            made["widgets_values"] = widgets
        if title is not None:
            made["title"] = title
        self.nodes.append(made)
        return made

    def link(self, origin: Json | int, origin_slot: int, target: Json | int, target_slot: int, kind: str) -> int:
        """Connect an output to an input; -10 and -20 are a subgraph's input and output nodes."""
        link_id = next(self._ids)
        origin_id = origin if isinstance(origin, int) else origin["id"]
        target_id = target if isinstance(target, int) else target["id"]
        if not isinstance(target, int):
            target["inputs"][target_slot]["link"] = link_id
        if not isinstance(origin, int):
            origin["outputs"][origin_slot]["links"].append(link_id)
        if self._objects:
            self.links.append(
                {
                    "id": link_id,
                    "origin_id": origin_id,
                    "origin_slot": origin_slot,
                    "target_id": target_id,
                    "target_slot": target_slot,
                    "type": kind,
                }
            )
        else:
            self.links.append([link_id, origin_id, origin_slot, target_id, target_slot, kind])
        return link_id

    def export(self, subgraphs: tuple[Json, ...] = ()) -> Json:
        made: Json = {
            "id": "5f1e0e7e-0000-4000-8000-000000000001",
            "revision": 0,
            "last_node_id": max((n["id"] for n in self.nodes), default=0),
            "last_link_id": max((link[0] if isinstance(link, list) else link["id"] for link in self.links), default=0),
            "nodes": self.nodes,
            "links": self.links,
            "groups": [{"id": 1, "title": "Prompt", "bounding": [0, 0, 400, 400], "color": "#3f789e", "flags": {}}],
            "config": {},
            "extra": {"ds": {"scale": 1, "offset": [0, 0]}, "frontendVersion": "1.27.10"},
            "version": 0.4,
        }
        if subgraphs:
            made["definitions"] = {"subgraphs": list(subgraphs)}
        return made


def subgraph(
    uuid: str,
    inner: UiGraph,
    inputs: list[tuple[str, str, list[int]]],
    outputs: list[tuple[str, str, list[int]]],
) -> Json:
    """A subgraph definition: its nodes and links, and its inputs and outputs as (name, type, link ids)."""
    return {
        "id": uuid,
        "version": 1,
        "state": {"lastGroupId": 0, "lastNodeId": 0, "lastLinkId": 0, "lastRerouteId": 0},
        "revision": 0,
        "config": {},
        "name": "Subgraph",
        "inputNode": {"id": -10, "bounding": [0, 0, 120, 60]},
        "outputNode": {"id": -20, "bounding": [900, 0, 120, 60]},
        "inputs": [
            {"id": f"in-{n}", "name": name, "type": kind, "linkIds": ids} for n, (name, kind, ids) in enumerate(inputs)
        ],
        "outputs": [
            {"id": f"out-{n}", "name": name, "type": kind, "linkIds": ids}
            for n, (name, kind, ids) in enumerate(outputs)
        ],
        "widgets": [],
        "nodes": inner.nodes,
        "groups": [],
        "links": inner.links,
        "extra": {},
    }


def txt2img(graph: UiGraph, *, seed_input: bool = False) -> dict[str, Json]:
    """The default SD1.5 workflow, as the frontend saves it: checkpoint 4, prompts 6 and 7, latent 5, sampler
    3, decode 8, save 9. With `seed_input`, the sampler's seed is also shown as an input slot (last)."""
    checkpoint = graph.node(
        4,
        "CheckpointLoaderSimple",
        outputs=(("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")),
        widgets=["sd15-random.safetensors"],
    )
    positive = graph.node(
        6,
        "CLIPTextEncode",
        inputs=(("clip", "CLIP"), ("text", "STRING", "text")),
        outputs=(("CONDITIONING", "CONDITIONING"),),
        widgets=["a fox in the snow"],
        title="Positive",
    )
    negative = graph.node(
        7,
        "CLIPTextEncode",
        inputs=(("clip", "CLIP"),),
        outputs=(("CONDITIONING", "CONDITIONING"),),
        widgets=["blurry"],
    )
    latent = graph.node(5, "EmptyLatentImage", outputs=(("LATENT", "LATENT"),), widgets=[512, 512, 1])
    sampler_inputs: tuple[tuple[str, str] | tuple[str, str, str], ...] = (
        ("model", "MODEL"),
        ("positive", "CONDITIONING"),
        ("negative", "CONDITIONING"),
        ("latent_image", "LATENT"),
    )
    if seed_input:
        sampler_inputs += (("seed", "INT", "seed"),)
    sampler = graph.node(
        3,
        "KSampler",
        inputs=sampler_inputs,
        outputs=(("LATENT", "LATENT"),),
        widgets=[42, "randomize", 20, 8, "euler", "normal", 1],
    )
    decode = graph.node(8, "VAEDecode", inputs=(("samples", "LATENT"), ("vae", "VAE")), outputs=(("IMAGE", "IMAGE"),))
    save = graph.node(9, "SaveImage", inputs=(("images", "IMAGE"),), widgets=["ComfyUI"])
    graph.link(checkpoint, 0, sampler, 0, "MODEL")
    graph.link(checkpoint, 1, positive, 0, "CLIP")
    graph.link(checkpoint, 1, negative, 0, "CLIP")
    graph.link(positive, 0, sampler, 1, "CONDITIONING")
    graph.link(negative, 0, sampler, 2, "CONDITIONING")
    graph.link(latent, 0, sampler, 3, "LATENT")
    graph.link(sampler, 0, decode, 0, "LATENT")
    graph.link(checkpoint, 2, decode, 1, "VAE")
    graph.link(decode, 0, save, 0, "IMAGE")
    return {
        "checkpoint": checkpoint,
        "positive": positive,
        "negative": negative,
        "latent": latent,
        "sampler": sampler,
        "decode": decode,
        "save": save,
    }


TXT2IMG_API: dict[str, Json] = {
    "4": {
        "inputs": {"ckpt_name": "sd15-random.safetensors"},
        "class_type": "CheckpointLoaderSimple",
        "_meta": {"title": "Load Checkpoint"},
    },
    "6": {
        "inputs": {"text": "a fox in the snow", "clip": ["4", 1]},
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "Positive"},
    },
    "7": {
        "inputs": {"text": "blurry", "clip": ["4", 1]},
        "class_type": "CLIPTextEncode",
        "_meta": {"title": "CLIP Text Encode (Prompt)"},
    },
    "5": {
        "inputs": {"width": 512, "height": 512, "batch_size": 1},
        "class_type": "EmptyLatentImage",
        "_meta": {"title": "Empty Latent Image"},
    },
    "3": {
        "inputs": {
            "seed": 42,
            "steps": 20,
            "cfg": 8,
            "sampler_name": "euler",
            "scheduler": "normal",
            "denoise": 1,
            "model": ["4", 0],
            "positive": ["6", 0],
            "negative": ["7", 0],
            "latent_image": ["5", 0],
        },
        "class_type": "KSampler",
        "_meta": {"title": "KSampler"},
    },
    "8": {"inputs": {"samples": ["3", 0], "vae": ["4", 2]}, "class_type": "VAEDecode", "_meta": {"title": "VAEDecode"}},
    "9": {
        "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]},
        "class_type": "SaveImage",
        "_meta": {"title": "Save Image"},
    },
}
