"""The templates in `workflows/`: loaded at start-up, reloaded atomically on request."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import NodeCatalog
from .errors import TemplateError, TemplateLoadError, UnknownTemplate, UnusableTemplate
from .infer import infer
from .manifest import parse_manifest
from .template import Template, output_nodes
from .ui_format import convert
from .ui_graph import ConversionError, is_ui_format
from .workflow import Workflow, graph_workflow, read_json

log = logging.getLogger(__name__)
NAME = re.compile(r"^[a-z0-9_-]{1,32}$")
NO_SERVER_YET = (
    "a UI-format export: it is converted with a ComfyUI server's node definitions, and no server has "
    "answered yet (it is loaded as soon as one does)"
)
Conversions = MutableMapping[tuple[str, str], "dict[str, Any] | ConversionError"]  # (file digest, catalog) ->


def _workflow(file: str, text: str, catalog: NodeCatalog | None, conversions: Conversions) -> tuple[Workflow, bool]:
    """The file's API graph, and whether it was converted from the UI format (once per file and node set)."""
    data = read_json(file, text)
    if not is_ui_format(data):
        return graph_workflow(file, data), False
    if catalog is None:
        raise TemplateLoadError(file, NO_SERVER_YET)
    key = (hashlib.sha256(text.encode()).hexdigest(), catalog.fingerprint)
    if key not in conversions:
        try:
            conversions[key] = convert(data, catalog.nodes, catalog.where())
        except ConversionError as exc:
            conversions[key] = exc
    found = conversions[key]
    if isinstance(found, ConversionError):
        raise TemplateLoadError(file, f"a UI-format export that cannot be converted: {found}")
    return graph_workflow(file, found), True


def load_template(
    json_path: Path, catalog: NodeCatalog | None = None, conversions: Conversions | None = None
) -> Template:
    """One template from `NAME.json` and, when present, `NAME.toml` beside it. A UI-format export is converted
    with `catalog` (the servers' node definitions)."""
    name, file = json_path.stem, json_path.name
    if not NAME.match(name):
        raise TemplateLoadError(file, "a template's file name must be 1-32 of a-z, 0-9, '_' or '-' (plus .json)")
    try:
        text = json_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateLoadError(file, f"cannot be read: {exc}") from None
    workflow, converted = _workflow(file, text, catalog, {} if conversions is None else conversions)
    manifest_path = json_path.with_suffix(".toml")
    warnings: tuple[str, ...] = ()
    nsfw = False
    max_loras = 0
    gpu_seconds = None
    if manifest_path.exists():
        try:
            manifest_text = manifest_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise TemplateLoadError(manifest_path.name, f"cannot be read as UTF-8 text: {exc}") from None
        manifest = parse_manifest(manifest_path.name, manifest_text, workflow)
        parameters = manifest.parameters
        display, description, named_outputs = manifest.display_name, manifest.description, manifest.outputs
        nsfw, max_loras, gpu_seconds = manifest.nsfw, manifest.loras, manifest.gpu_seconds
    else:
        parameters, warnings = infer(workflow)
        display, description, named_outputs = None, "", ()
    outputs = output_nodes(workflow, named_outputs, None if catalog is None else catalog.output_nodes)
    if not outputs:
        raise TemplateLoadError(
            file, "no output node: add a Save node (SaveImage, SaveVideo, SaveAudio), a PreviewImage or a PreviewAny"
        )
    return Template(
        name=name,
        display_name=display or name,
        description=description,
        workflow=workflow,
        parameters={p.name: p for p in parameters},
        output_nodes=outputs,
        warnings=warnings,
        has_manifest=manifest_path.exists(),
        nsfw=nsfw,
        converted=converted,
        max_loras=max_loras,
        gpu_seconds=gpu_seconds,
    )


@dataclass(frozen=True)
class LoadReport:
    loaded: tuple[str, ...]
    errors: Mapping[str, str]  # file -> why it was refused
    kept: tuple[str, ...] = ()  # templates whose new file was refused, so the previous version stays in use


class TemplateLibrary:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._templates: dict[str, Template] = {}
        self.catalog: NodeCatalog | None = None  # the servers' node definitions, once one has answered
        self._conversions: dict[tuple[str, str], dict[str, Any] | ConversionError] = {}
        self.last = LoadReport((), {})  # what the last reading of the folder loaded and refused
        self._reading = asyncio.Lock()

    @property
    def templates(self) -> Mapping[str, Template]:
        return self._templates

    def get(self, name: str) -> Template:
        """The template of that name. A file that was refused, or a UI export waiting for a server, is told as
        such (`UnusableTemplate`), not as unknown."""
        template = self._templates.get(name)
        if template is not None:
            return template
        reason = self.last.errors.get(f"{name}.json")
        if reason is not None:
            waiting = reason.endswith(NO_SERVER_YET)
            raise UnusableTemplate("template.waiting" if waiting else "template.refused", name=name, reason=reason)
        known = ", ".join(sorted(self._templates)) or "none"
        raise UnknownTemplate("template.unknown", name=name, known=known)

    async def refresh(self, catalog: NodeCatalog | None = None) -> LoadReport | None:
        """`reload()` (or `use_nodes(catalog)`) for a running bot: in a worker thread, so converting and checking
        a large workflow never holds up the event loop (members' commands are answered meanwhile), one reading at
        a time. Templates in use are swapped at the end, at once."""
        async with self._reading:
            if catalog is None:
                return await asyncio.to_thread(self.reload)
            return await asyncio.to_thread(self.use_nodes, catalog)

    def use_nodes(self, catalog: NodeCatalog) -> LoadReport | None:
        """The servers' node definitions changed (or arrived): UI-format exports are converted again, with the
        folder read anew; None when they are the ones already in use."""
        same = self.catalog is not None and self.catalog.fingerprint == catalog.fingerprint
        self.catalog = catalog  # (when the same definitions, perhaps now from other servers)
        return None if same else self.reload()

    def reload(self) -> LoadReport:
        """Read the folder again and swap in the result at once. A file that fails keeps its previous good
        version in use (reported in `kept`); one bad file never stops the others."""
        fresh: dict[str, Template] = {}
        errors: dict[str, str] = {}
        kept: list[str] = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                fresh[path.stem] = load_template(path, self.catalog, self._conversions)
            except (TemplateError, RecursionError, MemoryError, ValueError, TypeError, KeyError) as exc:
                if not isinstance(exc, TemplateError):  # a file the checks above did not foresee: still only its own
                    log.exception("workflows/%s could not be loaded", path.name)
                    exc = TemplateLoadError(path.name, f"cannot be loaded ({type(exc).__name__})")
                errors[path.name] = str(exc)
                if path.stem in self._templates:
                    fresh[path.stem] = self._templates[path.stem]
                    kept.append(path.stem)
        self._templates = fresh
        current = self.catalog.fingerprint if self.catalog else None
        for key in [k for k in self._conversions if k[1] != current]:  # conversions for other node sets go
            del self._conversions[key]
        self.last = LoadReport(tuple(sorted(fresh)), errors, tuple(kept))
        return self.last
