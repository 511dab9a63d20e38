"""The text `python -m bot templates` and `/workflows` show: every template, its parameters, targets, warnings."""

from __future__ import annotations

from bot.i18n import Text

from .library import LoadReport, TemplateLibrary
from .params import Parameter


def _kind(param: Parameter, locale: str | None) -> str:
    text: str = param.type
    if param.min is not None or param.max is not None:
        text += f" ({param.bounds().render(locale)})"
    if param.choices:
        text += f" [{', '.join(param.choices)}]"
    if param.default is not None:
        text += Text("listing.default", value=repr(param.default)).render(locale)
    if param.random_when_missing:
        text += Text("listing.random").render(locale)
    return text


def describe_library(
    library: TemplateLibrary, report: LoadReport, locale: str | None = None, *, reasons: bool = True
) -> str:
    """The listing; without `reasons` (a member who administers nothing), refused files are only counted."""

    def say(key: str, **params: object) -> str:
        return Text(key, **params).render(locale)

    lines: list[str] = []
    for name in sorted(library.templates):
        template = library.templates[name]
        origin = say("listing.manifest" if template.has_manifest else "listing.inferred")
        converted = f" ({say('listing.converted')})" if template.converted else ""
        lines.append(f"{name}: {template.display_name} ({origin}){converted}")
        if template.description:
            lines.append(f"  {template.description}")
        lines.append("  " + say("listing.results", nodes=", ".join(template.output_nodes)))
        for param in template.parameters.values():
            targets = ", ".join(str(t) for t in param.targets)
            lines.append(f"  {param.name:<13} {_kind(param, locale)} -> {targets}")
        lines.extend("  " + say("listing.warning", warning=warning) for warning in template.warnings)
    if report.errors and not reasons:
        lines.append(say("listing.refused_count", count=len(report.errors)))
    elif report.errors:
        lines.append(say("listing.refused"))
        for file, error in report.errors.items():
            kept = say("listing.kept") if file.removesuffix(".json") in report.kept else ""
            lines.append(f"  {error}{kept}")
    if not library.templates and not report.errors:
        lines.append(say("listing.empty", folder=library.folder))
    return "\n".join(lines)
