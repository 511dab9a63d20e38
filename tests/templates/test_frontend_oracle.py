"""Every official template ComfyUI's own frontend could convert with the recorded node catalogue (159 UI exports of
comfyui-workflow-templates 0.1.95) is converted by the bot exactly as the frontend did: the frontend's prompts were
recorded by `bench/frontend_oracle.py` (frontend 1.27.10 in headless Chromium, ComfyUI 0.3.64's `/object_info`).

Two differences are set apart, each named, because ComfyUI itself does not read them:
- inputs the node's server definition does not have: the frontend's own widgets (its 3D viewer's `image`, the
  `preview` of PreviewAny, a refresh button), sent by the frontend and dropped by ComfyUI's validation;
- the `_meta.title` of a node the export leaves untitled when the server gives no display name: the frontend shows
  (and sends) its own English name for it from its locale files; the bot, having only `/object_info`, the class
  name. `_meta` is never read by ComfyUI (a manifest names nodes by the titles an admin gave them)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import comfyui_workflow_templates  # type: ignore[import-untyped]
import pytest

from bot.comfy.models import parse_object_info
from bot.templates.ui_format import convert

FIXTURES = Path(__file__).parent.parent / "fixtures"
TEMPLATES = Path(comfyui_workflow_templates.__file__).parent / "templates"
with gzip.open(FIXTURES / "frontend_prompts.json.gz", "rt", encoding="utf-8") as _file:
    RECORDED: dict[str, Any] = json.load(_file)["prompts"]
with gzip.open(FIXTURES / "object_info_full.json.gz", "rt", encoding="utf-8") as _file:
    RAW_CATALOGUE: dict[str, Any] = json.load(_file)
CATALOGUE = parse_object_info(RAW_CATALOGUE)
FRONTEND_WIDGETS = {  # (class, input): widgets of the frontend's own, not inputs of the node on the server
    ("SaveGLB", "image"),
    ("Preview3D", "image"),
    ("PreviewAny", "preview"),
    ("LoadImageOutput", "refresh"),
}


def comparable(prompt: dict[str, Any], export: dict[str, Any]) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """The prompt without what is set apart (see the module), and the frontend-only inputs that were."""
    titled = {str(node.get("id")) for node in export.get("nodes") or [] if node.get("title")}
    dropped: set[tuple[str, str]] = set()
    kept: dict[str, Any] = {}
    for node_id, body in prompt.items():
        kind = body["class_type"]
        defined = RAW_CATALOGUE[kind]["input"]
        known = {*defined.get("required", {}), *defined.get("optional", {})}
        inputs = {}
        for name, value in body["inputs"].items():
            if name in known:
                inputs[name] = value
            else:
                dropped.add((kind, name))
        meta = body.get("_meta", {})
        if node_id.split(":")[-1] not in titled and not RAW_CATALOGUE[kind].get("display_name"):
            meta = {}  # the frontend's localised name of an untitled node
        kept[node_id] = {"class_type": kind, "inputs": inputs, "_meta": meta}
    return kept, dropped


def test_every_eligible_official_template_is_recorded_default_among_them() -> None:
    assert len(RECORDED) == 159 and "default" in RECORDED


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_the_conversion_is_the_frontends(name: str) -> None:
    export = json.loads((TEMPLATES / f"{name}.json").read_text(encoding="utf-8"))
    ours, _ = comparable(convert(export, CATALOGUE, "gpu1"), export)
    theirs, dropped = comparable(RECORDED[name], export)
    assert ours == theirs
    assert dropped <= FRONTEND_WIDGETS, f"frontend-only inputs not yet named: {dropped - FRONTEND_WIDGETS}"
