"""Loading `workflows/`: refusals with messages an admin can act on, manifests, and an atomic reload."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.templates.catalog import catalog_of
from bot.templates.errors import TemplateError
from bot.templates.library import NO_SERVER_YET, TemplateLibrary
from bot.templates.validate import validate_template
from tests.cli import run_cli
from tests.conftest import graph
from tests.fakes.comfy_server import FakeComfy
from tests.templates.test_ui_format import NODES, UI_RULES

ROOT = Path(__file__).resolve().parent.parent.parent
UI_EXPORT = {"last_node_id": 9, "last_link_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": [[1, 4, 0, 3, 0]]}
MANIFEST = """
name = "Mine"
[[parameters]]
name = "prompt"
type = "text"
targets = [{ %s, input = "text" }]
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "good.json").write_text(json.dumps(graph("txt2img")))
    return tmp_path


def refused(folder: Path, file: str) -> str:
    report = TemplateLibrary(folder).reload()
    assert "good" in report.loaded  # one bad file never stops the others
    return report.errors[file]


def test_a_ui_format_export_waits_for_a_servers_node_definitions(folder: Path) -> None:
    (folder / "ui.json").write_text(json.dumps(UI_EXPORT))
    assert refused(folder, "ui.json") == f"ui.json: {NO_SERVER_YET}"


@pytest.mark.parametrize("rule", ["subgraph", "bypassed", "primitive", "reroutes"])
def test_ui_format_exports_convert_load_and_validate_against_the_recorded_server(folder: Path, rule: str) -> None:
    """A UI export with a subgraph, with a bypassed node, with a PrimitiveNode, and with a Reroute chain: each
    loads as a template (its prompt and seed inferred) that the recorded server can run."""
    (folder / "ui.json").write_text(json.dumps(UI_RULES[rule]()))
    library = TemplateLibrary(folder)
    report = library.use_nodes(catalog_of([("gpu1", NODES)]))
    assert report is not None and not report.errors, report
    template = library.get("ui")
    assert template.converted
    assert {"prompt", "seed"} <= set(template.parameters)
    assert validate_template(template, NODES, "gpu1").problems == ()
    assert library.use_nodes(catalog_of([("gpu2", NODES)])) is None  # the same definitions: nothing to redo


def test_broken_json_names_file_line_and_column(folder: Path) -> None:
    (folder / "broken.json").write_text('{\n  "3": {"class_type": "KSampler",\n    "inputs": {,}\n}')
    assert refused(folder, "broken.json") == (
        "broken.json: broken JSON at line 3, column 16: Expecting property name enclosed in double quotes"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "expected an API-format workflow: an object of node id -> node"),
        ('{"3": {"inputs": {}}}', "node 3 has no class_type; is this an API-format export?"),
        (
            '{"3": {"class_type": "SaveImage", "inputs": {"images": ["8", 0]}}}',
            "node 3 (SaveImage) input 'images' links to node 8, which is missing",
        ),
        (
            '{"3": {"class_type": "CLIPTextEncode", "inputs": {"text": "x"}}}',
            "no output node: add a Save node (SaveImage, SaveVideo, SaveAudio), a PreviewImage or a PreviewAny",
        ),
    ],
)
def test_other_malformed_workflows(folder: Path, content: str, message: str) -> None:
    (folder / "odd.json").write_text(content)
    assert refused(folder, "odd.json") == f"odd.json: {message}"


def test_a_bad_file_name_is_refused(folder: Path) -> None:
    (folder / "My Workflow.json").write_text(json.dumps(graph("txt2img")))
    assert "name must be 1-32 of a-z" in refused(folder, "My Workflow.json")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            'title = "Positiv"',
            "parameter 'prompt': no node titled 'Positiv'; titles are 'CLIP Text Encode (Prompt)', "
            "'Empty Latent Image', 'KSampler', 'Load Checkpoint', 'Save Image', 'VAE Decode'",
        ),
        (
            'title = "CLIP Text Encode (Prompt)"',
            "parameter 'prompt': title 'CLIP Text Encode (Prompt)' matches "
            "several nodes: 6 (CLIPTextEncode), 7 (CLIPTextEncode); target one by node id",
        ),
        ('node = "60"', "parameter 'prompt': no node 60; the nodes are 3, 4, 5, 6, 7, 8, 9"),
        (
            'node = "3"',
            "parameter 'prompt': node 3 (KSampler) has no input 'text'; it has: seed, steps, cfg, "
            "sampler_name, scheduler, denoise, model, positive, negative, latent_image",
        ),
    ],
)
def test_manifest_targets_that_do_not_resolve_name_the_candidates(folder: Path, target: str, message: str) -> None:
    (folder / "good.toml").write_text(MANIFEST % target)
    report = TemplateLibrary(folder).reload()
    assert report.errors == {"good.json": f"good.toml: {message}"}


def test_manifest_shape_errors(folder: Path) -> None:
    (folder / "good.toml").write_text('[[parameters]]\nname = "Steps!"\ntype = "number"\ntargets = []\n')
    message = TemplateLibrary(folder).reload().errors["good.json"]
    assert message.startswith("good.toml: parameters.0.name: String should match pattern")
    assert "parameters.0.type: Input should be 'text', 'int', 'float', 'choice', 'bool', 'image' or 'audio'" in message
    assert "parameters.0.targets: List should have at least 1 item" in message
    (folder / "good.toml").write_text(
        '[[parameters]]\nname = "steps"\ntype = "int"\ndefault = 0\nmin = 1\n'
        'targets = [{ node = "3", input = "steps" }]\n'
    )
    assert TemplateLibrary(folder).reload().errors["good.json"] == (
        "good.toml: parameter 'steps': its default does not fit: steps must be at least 1 (got 0)"
    )


def test_a_manifest_by_title_and_by_id(folder: Path) -> None:
    (folder / "good.toml").write_text('outputs = ["Save Image"]\n' + MANIFEST % 'node = "6"')
    library = TemplateLibrary(folder)
    library.reload()
    template = library.get("good")
    assert template.display_name == "Mine" and list(template.parameters) == ["prompt"]
    with pytest.raises(TemplateError, match="unknown template 'nope'; available: good"):
        library.get("nope")


def test_a_manifests_gpu_seconds_go_with_each_bound_job(folder: Path) -> None:
    """`gpu_seconds` in a manifest: the fair queue's first guess of what a job of it costs, carried by each job."""
    (folder / "good.toml").write_text("gpu_seconds = 30\n" + MANIFEST % 'node = "6"')
    library = TemplateLibrary(folder)
    library.reload()
    assert library.get("good").bind({"prompt": "a fox"}).expected_seconds == 30.0
    (folder / "good.toml").write_text("gpu_seconds = 0\n" + MANIFEST % 'node = "6"')
    assert "gpu_seconds: Input should be greater than 0" in TemplateLibrary(folder).reload().errors["good.json"]


def test_reload_keeps_the_last_good_version_when_the_new_file_is_broken(folder: Path) -> None:
    library = TemplateLibrary(folder)
    library.reload()
    before = library.get("good")

    (folder / "good.json").write_text('{"3": ')
    (folder / "extra.json").write_text(json.dumps(graph("img2img")))
    report = library.reload()

    assert report.kept == ("good",) and "good.json: broken JSON" in report.errors["good.json"]
    assert library.get("good") is before  # still in use
    assert set(library.templates) == {"good", "extra"}  # the good new file arrived anyway
    (folder / "good.json").write_text(json.dumps(graph("txt2img", **{"3__steps": 5})))
    library.reload()
    assert library.get("good") is not before and library.get("good").bind({}).values["steps"] == 5


async def test_the_templates_command_lists_parameters_targets_and_refusals(folder: Path, tmp_path: Path) -> None:
    shutil.copy(ROOT / "workflows" / "upscale.json", folder / "upscale.json")
    shutil.copy(ROOT / "workflows" / "upscale.toml", folder / "upscale.toml")
    (folder / "ui.json").write_text(json.dumps(UI_EXPORT))
    code, text, _ = await run_cli("templates", env={"TEMPLATES__DIR": str(folder)}, cwd=tmp_path)
    assert code == 1  # a file was refused
    assert "good: good (inferred, no manifest)" in text
    assert "  prompt        text -> node 6.text" in text
    assert "  seed          int (from 0 to 18446744073709551615), random when empty -> node 3.seed" in text
    assert "upscale: Upscale (manifest)" in text
    assert "  method        choice [nearest-exact, bilinear, area, bicubic, lanczos], default 'lanczos'" in text
    assert f"Refused:\n  ui.json: {NO_SERVER_YET}" in text  # no server answers on the default address


async def test_the_templates_command_converts_a_ui_export_with_the_servers_definitions(
    folder: Path, tmp_path: Path, fake: FakeComfy
) -> None:
    (folder / "ui.json").write_text(json.dumps(UI_RULES["subgraph"]()))
    env = {"TEMPLATES__DIR": str(folder), "COMFY__BACKENDS": fake.base_url, "COMFY__RETRIES": "0"}
    code, text, _ = await run_cli("templates", env=env, cwd=tmp_path)
    assert code == 0, text
    assert "ui: ui (inferred, no manifest) (converted from the UI format)" in text
    assert "  prompt        text -> node 40:1.text" in text
