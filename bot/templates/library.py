"""The templates in `workflows/`: loaded at start-up, reloaded atomically on request."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import TemplateError, TemplateLoadError, UnknownTemplate
from .infer import infer
from .manifest import parse_manifest
from .template import Template, output_nodes
from .workflow import parse_workflow

NAME = re.compile(r"^[a-z0-9_-]{1,32}$")


def load_template(json_path: Path) -> Template:
    """One template from `NAME.json` and, when present, `NAME.toml` beside it."""
    name, file = json_path.stem, json_path.name
    if not NAME.match(name):
        raise TemplateLoadError(file, "a template's file name must be 1-32 of a-z, 0-9, '_' or '-' (plus .json)")
    try:
        text = json_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateLoadError(file, f"cannot be read: {exc}") from None
    workflow = parse_workflow(file, text)
    manifest_path = json_path.with_suffix(".toml")
    warnings: tuple[str, ...] = ()
    nsfw = False
    if manifest_path.exists():
        manifest = parse_manifest(manifest_path.name, manifest_path.read_text(encoding="utf-8"), workflow)
        parameters = manifest.parameters
        display, description, named_outputs = manifest.display_name, manifest.description, manifest.outputs
        nsfw = manifest.nsfw
    else:
        parameters, warnings = infer(workflow)
        display, description, named_outputs = None, "", ()
    outputs = output_nodes(workflow, named_outputs)
    if not outputs:
        raise TemplateLoadError(file, "no output node: add a SaveImage (or PreviewImage) node")
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

    @property
    def templates(self) -> Mapping[str, Template]:
        return self._templates

    def get(self, name: str) -> Template:
        template = self._templates.get(name)
        if template is None:
            known = ", ".join(sorted(self._templates)) or "none"
            raise UnknownTemplate("template.unknown", name=name, known=known)
        return template

    def reload(self) -> LoadReport:
        """Read the folder again and swap in the result at once. A file that fails keeps its previous good
        version in use (reported in `kept`); one bad file never stops the others."""
        fresh: dict[str, Template] = {}
        errors: dict[str, str] = {}
        kept: list[str] = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                fresh[path.stem] = load_template(path)
            except TemplateError as exc:
                errors[path.name] = str(exc)
                if path.stem in self._templates:
                    fresh[path.stem] = self._templates[path.stem]
                    kept.append(path.stem)
        self._templates = fresh
        return LoadReport(tuple(sorted(fresh)), errors, tuple(kept))
