"""The text `python -m bot templates` prints: every template, its parameters, targets and warnings."""

from __future__ import annotations

from .library import LoadReport, TemplateLibrary
from .params import Parameter


def _kind(param: Parameter) -> str:
    text: str = param.type
    if param.min is not None or param.max is not None:
        text += f" ({param.bounds()})"
    if param.choices:
        text += f" [{', '.join(param.choices)}]"
    if param.default is not None:
        text += f", default {param.default!r}"
    if param.random_when_missing:
        text += ", random when empty"
    return text


def describe_library(library: TemplateLibrary, report: LoadReport) -> str:
    lines: list[str] = []
    for name in sorted(library.templates):
        template = library.templates[name]
        origin = "manifest" if template.has_manifest else "inferred, no manifest"
        lines.append(f"{name}: {template.display_name} ({origin})")
        if template.description:
            lines.append(f"  {template.description}")
        lines.append(f"  results from: {', '.join(f'node {n}' for n in template.output_nodes)}")
        for param in template.parameters.values():
            targets = ", ".join(str(t) for t in param.targets)
            lines.append(f"  {param.name:<13} {_kind(param)} -> {targets}")
        lines.extend(f"  warning: {warning}" for warning in template.warnings)
    if report.errors:
        lines.append("Refused:")
        for file, error in report.errors.items():
            kept = " (the previous version stays in use)" if file.removesuffix(".json") in report.kept else ""
            lines.append(f"  {error}{kept}")
    if not library.templates and not report.errors:
        lines.append(f"No workflows in {library.folder}/: export one from ComfyUI with 'Save (API Format)'.")
    return "\n".join(lines)
