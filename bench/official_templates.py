"""ComfyUI's own published workflows (the `comfyui-workflow-templates-json` package, a dev dependency) as an admin
would drop them into `workflows/`: each is loaded as a template with the node definitions of the recorded server
(ComfyUI 0.3.64's full `/object_info`, `tests/fixtures/object_info_full.json.gz`).

Printed: how many there are and in which format; how many use only node types that server has (the others are
counted with the node types they lack most often); of those, how many convert, validate (every node and value
the server accepts; models the server does not have counted apart), infer a prompt (and, of those with a
sampler, how many), and the refusals by reason.

    .venv/bin/python -m bench.official_templates [--show REASON] [--server http://127.0.0.1:8188]

With `--server`, each conversion is also sent to that real ComfyUI's `/prompt` (its queue cleared after each),
and its answers are counted: accepted, refused only for model and input files it does not have, or otherwise
(printed). That is the check against ComfyUI itself; the tests cannot make it (no real server in CI).
"""

from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import comfyui_workflow_templates_json  # type: ignore[import-untyped]

from bot.comfy.models import NodeInfo, parse_object_info
from bot.templates.catalog import catalog_of
from bot.templates.library import TemplateLibrary
from bot.templates.ui_format import VIRTUAL, convert
from bot.templates.ui_graph import ConversionError, is_ui_format
from bot.templates.validate import validate_template

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
TEMPLATES = Path(comfyui_workflow_templates_json.__file__).parent / "templates"
SAMPLERS = ("KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced")


def recorded_server() -> dict[str, NodeInfo]:
    with gzip.open(FIXTURES / "object_info_full.json.gz", "rt") as file:
        return parse_object_info(json.load(file))


def node_types(data: dict[str, Any]) -> set[str]:
    """Every node type a UI export uses, inside its subgraphs too (the frontend's own nodes and subgraph
    instances aside)."""
    subgraphs = [s for s in (data.get("definitions") or {}).get("subgraphs") or [] if isinstance(s, dict)]
    ids = {str(s.get("id")) for s in subgraphs}
    nodes = [*(data.get("nodes") or []), *(n for s in subgraphs for n in s.get("nodes") or [])]
    return {str(n.get("type")) for n in nodes if isinstance(n, dict)} - ids - VIRTUAL


def reason_of(error: str) -> str:
    """A refusal without the file and node ids, so alike refusals count together."""
    text = error.split(": ", 1)[1] if ": " in error else error
    text = text.removeprefix("a UI-format export that cannot be converted: ")
    return re.sub(r"node [0-9:]+ ", "node ", text)


FILE_INPUTS = ("image", "audio", "video", "file")  # inputs naming a file in the server's input folder


def ask_server(server: str, graph: dict[str, Any], name: str) -> str:
    """Send the prompt to a real ComfyUI, then clear its queue and interrupt: what its validation said."""

    def post(path: str, body: Any) -> Any:
        request = urllib.request.Request(
            server.rstrip("/") + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    try:
        post("/prompt", {"prompt": graph, "client_id": "bench-official-templates"})
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
        errors = [
            (e.get("type"), (e.get("extra_info") or {}).get("input_name") or "")
            for node in (body.get("node_errors") or {}).values()
            for e in node.get("errors") or []
        ]
        files = [
            t in ("value_not_in_list", "custom_validation_failed")
            and (
                n.endswith("_name")
                or n.endswith(("_name1", "_name2", "_name3", "_name4"))
                or n in FILE_INPUTS
                or n == "name"
            )
            for t, n in errors
        ]
        if errors and all(files):
            return "refused only for files it does not have"
        print(f"  {name}: {errors or body.get('error')}")
        return "refused otherwise"
    finally:
        post("/queue", {"clear": True})
        post("/interrupt", {})
    return "accepted"


def print_templates(library: TemplateLibrary, server: dict[str, NodeInfo], files: dict[str, Path], show: str) -> None:
    """What the converted workflows are as templates: validated, and with a prompt inferred."""
    invalid: collections.Counter[str] = collections.Counter()
    validated = models_missing = prompts = with_sampler = sampler_prompts = 0
    for name, template in library.templates.items():
        problems = validate_template(template, server, "the recorded server").problems
        other = [p for p in problems if "is not present on" not in p]
        validated += not other
        models_missing += bool(problems) and not other
        has_prompt = "prompt" in template.parameters
        prompts += has_prompt
        if any(node.class_type in SAMPLERS for node in template.workflow):
            with_sampler += 1
            sampler_prompts += has_prompt
        invalid.update(reason_of(f"x: {p}") for p in other)
        if other and show and any(show in p for p in other):
            print(f"  {files[name].name}: {'; '.join(other)}")
    loaded = len(library.templates)
    print(f"loaded as templates: {loaded}")
    print(f"validated: {validated} of {loaded} ({models_missing} of them name models the server does not have)")
    for reason, count in invalid.most_common(10):
        print(f"  {count:4d}  {reason}")
    print(f"inferred a prompt: {prompts} of {loaded}; of the {with_sampler} with a sampler, {sampler_prompts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--show", default="", help="print the files refused for reasons containing this text")
    parser.add_argument("--server", default="", help="a real ComfyUI to send each conversion to")
    args = parser.parse_args()
    answers: collections.Counter[str] = collections.Counter()
    server = recorded_server()
    files = sorted(TEMPLATES.glob("*.json"))
    formats: collections.Counter[str] = collections.Counter()
    lacking: collections.Counter[str] = collections.Counter()
    runnable: dict[str, Path] = {}
    subgraphs = 0
    unconverted: collections.Counter[str] = collections.Counter()
    with tempfile.TemporaryDirectory() as folder:
        for n, path in enumerate(files):
            data = json.loads(path.read_text(encoding="utf-8"))
            if not is_ui_format(data):
                formats["API format"] += 1
                continue
            formats["UI format"] += 1
            missing = node_types(data) - set(server)
            if missing:
                lacking.update(missing)
                continue
            subgraphs += bool((data.get("definitions") or {}).get("subgraphs"))
            try:
                graph = convert(data, server, "the recorded server")
            except ConversionError as exc:
                unconverted[reason_of(f"x: {exc}")] += 1
            else:
                if args.server:
                    answers[ask_server(args.server, graph, path.name)] += 1
            name = f"t{n:04d}"
            (Path(folder) / f"{name}.json").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
            runnable[name] = path
        library = TemplateLibrary(Path(folder))
        report = library.use_nodes(catalog_of([("the recorded server", server)]))
    assert report is not None
    print(f"{len(files)} official workflows ({', '.join(f'{v} in the {k}' for k, v in formats.items())})")
    print(
        f"{len(runnable)} use only node types the recorded server has ({subgraphs} with subgraphs); the others lack "
        + ", ".join(f"{kind} ({count})" for kind, count in lacking.most_common(8))
    )
    print(f"converted: {len(runnable) - sum(unconverted.values())} of {len(runnable)}")
    for reason, count in unconverted.most_common():
        print(f"  {count:4d}  not converted: {reason}")
    print_templates(library, server, runnable, args.show)
    if args.server:
        print(f"{args.server} answered: " + ", ".join(f"{what} {count}" for what, count in answers.most_common()))
    reasons = collections.Counter(reason_of(error) for error in report.errors.values())
    print(f"refused as templates: {sum(reasons.values())}" + (" by reason:" if reasons else ""))
    for reason, count in reasons.most_common():
        print(f"  {count:4d}  {reason}")
        if args.show and args.show in reason:
            for file, error in report.errors.items():
                if reason_of(error) == reason:
                    print(f"          {runnable[file.removesuffix('.json')].name}")


if __name__ == "__main__":
    main()
