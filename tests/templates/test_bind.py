"""Binding values into the shipped templates: by value, checked, and runnable on the fake ComfyUI."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from bot.comfy.backend import ComfyBackend
from bot.comfy.client import ComfyClient
from bot.comfy.models import NodeInfo, parse_object_info
from bot.comfy.run import RunSucceeded
from bot.templates.errors import BindError
from bot.templates.library import TemplateLibrary
from bot.templates.params import ImageData
from bot.templates.template import SEED_MAX, Template
from bot.templates.validate import validate_template
from bot.templates.workflow import Workflow
from tests.fakes.comfy_server import FakeComfy, load_object_info

WORKFLOWS = Path(__file__).resolve().parent.parent.parent / "workflows"
SHIPPED_CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
PNG = b"\x89PNG\r\n\x1a\n attached"
HARD_PROMPT = (
    'He said "hi" and \'bye\' {"json": [1, 2, {"x": null}]} {{braces}} \\n \\\\ back\\slash\n'
    "line two\r\n\t${not_a_var} %s {0} <tag> `code` "
) + ("雪の中の狐🦊✨龍🐉" * 700)[:6000]  # 6,000 characters of CJK and emoji


@pytest.fixture(scope="module")
def library() -> TemplateLibrary:
    templates = TemplateLibrary(WORKFLOWS)
    report = templates.reload()
    assert report.errors == {}
    return templates


def recorded_object_info(*checkpoints: str) -> dict[str, NodeInfo]:
    raw = load_object_info()
    raw["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0].extend(checkpoints)
    return parse_object_info(raw)


def sample_values(template: Template) -> dict[str, object]:
    return {name: ImageData(PNG, "cat.png") for name, p in template.parameters.items() if p.type == "image"}


def test_ships_the_four_templates(library: TemplateLibrary) -> None:
    assert sorted(library.templates) == ["img2img", "quick", "txt2img", "upscale"]
    assert not library.templates["quick"].has_manifest
    assert library.templates["img2img"].parameters["image"].type == "image"


@pytest.mark.parametrize("name", ["img2img", "quick", "txt2img", "upscale"])
def test_every_shipped_template_binds_and_validates(library: TemplateLibrary, name: str) -> None:
    template = library.templates[name]
    bound = template.bind(sample_values(template))
    assert set(bound.values) == set(template.parameters)
    assert bound.output_nodes and all(bound.graph[node]["class_type"] == "SaveImage" for node in bound.output_nodes)

    report = validate_template(template, recorded_object_info(SHIPPED_CHECKPOINT), "recorded")
    assert report.problems == () and report.runnable


def test_validation_names_a_missing_model_and_offers_the_choices(library: TemplateLibrary) -> None:
    report = validate_template(library.templates["txt2img"], recorded_object_info(), "gpu1")
    assert report.problems == (
        f"node 4 (CheckpointLoaderSimple): ckpt_name '{SHIPPED_CHECKPOINT}' is not present on gpu1",
    )
    assert not report.runnable
    assert report.choices["model"] == ("sd15-random.safetensors",)
    assert "euler" in report.choices["sampler_name"] and "karras" in report.choices["scheduler"]


def test_validation_names_unknown_nodes_unoffered_names_and_values_out_of_range(library: TemplateLibrary) -> None:
    template = library.templates["quick"]
    graph = template.workflow.copy_graph()
    graph["3"]["inputs"].update(steps=20000, sampler_name="no_such_sampler")
    graph["50"] = {"class_type": "FancyCustomNode", "inputs": {}}
    odd = Template("odd", "odd", "", Workflow(graph), template.parameters, template.output_nodes)
    problems = validate_template(odd, recorded_object_info(SHIPPED_CHECKPOINT), "gpu1").problems
    assert set(problems) == {
        "node 3 (KSampler): sampler_name 'no_such_sampler' is not offered by gpu1",
        "node 3 (KSampler): steps 20000 is above the maximum 10000",
        "node 50 (FancyCustomNode): node type FancyCustomNode is not installed on gpu1",
    }


def test_a_hard_prompt_lands_as_that_exact_string(library: TemplateLibrary) -> None:
    assert len(HARD_PROMPT) > 6000
    bound = library.templates["txt2img"].bind({"prompt": HARD_PROMPT, "negative": "{}\"'"})
    assert bound.graph["6"]["inputs"]["text"] == HARD_PROMPT
    assert bound.graph["7"]["inputs"]["text"] == "{}\"'"
    assert json.loads(json.dumps(bound.graph))["6"]["inputs"]["text"] == HARD_PROMPT


async def test_a_hard_prompt_reaches_comfyui_unchanged(
    library: TemplateLibrary, fake: FakeComfy, backend: ComfyBackend
) -> None:
    bound = library.templates["txt2img"].bind({"prompt": HARD_PROMPT, "model": "sd15-random.safetensors"})
    run = await backend.submit(bound.graph)
    outcome = await run.outcome()
    assert isinstance(outcome, RunSucceeded)
    queued = next(entry for entry in fake.history.values() if entry["prompt"][1] == run.prompt_id)
    assert queued["prompt"][2]["6"]["inputs"]["text"] == HARD_PROMPT


async def test_an_attached_image_is_uploaded_under_a_job_unique_name(
    library: TemplateLibrary, fake: FakeComfy, backend: ComfyBackend, client: ComfyClient
) -> None:
    template = library.templates["img2img"]
    results = []
    for job in ("job-1", "job-2"):
        bound = template.bind({"image": ImageData(PNG + job.encode(), "photo.JPG"), "model": "sd15-random.safetensors"})
        graph = await bound.upload_images(client, job)
        assert graph["10"]["inputs"]["image"] == f"discord-bot/{job}-image.jpg"
        assert bound.graph["10"]["inputs"]["image"] == "example.png"  # the bound graph itself is untouched
        results.append(await (await backend.submit(graph)).outcome())
    assert all(isinstance(r, RunSucceeded) for r in results)
    assert (
        fake.files[("input", "discord-bot", "job-1-image.jpg")]
        != fake.files[("input", "discord-bot", "job-2-image.jpg")]
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"steps": 0}, "steps must be from 1 to 60 (got 0)"),
        ({"steps": 61}, "steps must be from 1 to 60 (got 61)"),
        ({"steps": "abc"}, "steps must be a whole number (got 'abc')"),
        ({"steps": 2.5}, "steps must be a whole number (got 2.5)"),
        ({"steps": True}, "steps must be a whole number"),
        ({"cfg": "high"}, "cfg must be a number (got 'high')"),
        ({"cfg": float("nan")}, "cfg must be a finite number"),
        ({"cfg": 25}, "cfg must be from 1 to 20 (got 25)"),
        ({"width": 4096}, "width must be from 256 to 1024 (got 4096)"),
        ({"prompt": 42}, "prompt must be text"),
        ({"seed": -2}, "seed must be from 0 to 9007199254740991 (got -2)"),
        (
            {"stpes": 20},
            "unknown option(s) for txt2img: stpes; it takes: prompt, negative, seed, steps, cfg, "
            "sampler_name, scheduler, width, height, batch_size, model",
        ),
    ],
)
def test_types_and_bounds_are_enforced_with_messages(
    library: TemplateLibrary, values: dict[str, object], message: str
) -> None:
    with pytest.raises(BindError) as caught:
        library.templates["txt2img"].bind(values)
    assert str(caught.value) == message


def test_choices_bools_and_missing_images(library: TemplateLibrary) -> None:
    upscale = library.templates["upscale"]
    with pytest.raises(BindError, match=r"method must be one of: nearest-exact, .*lanczos \(got 'sharp'\)"):
        upscale.bind({"image": ImageData(PNG, "a.png"), "method": "sharp"})
    with pytest.raises(BindError, match="upscale needs an image: attach one as 'image'"):
        upscale.bind({})
    bound = upscale.bind({"image": ImageData(PNG, "a.png"), "scale": "3"})
    assert bound.graph["2"]["inputs"]["scale_by"] == 3.0 and bound.values["method"] == "lanczos"


def test_seeds_are_random_and_recorded_unless_given(library: TemplateLibrary) -> None:
    template = library.templates["txt2img"]
    first, second = template.bind({}), template.bind({"seed": -1})
    assert first.values["seed"] != second.values["seed"]
    assert 0 <= first.values["seed"] <= SEED_MAX
    assert first.graph["3"]["inputs"]["seed"] == first.values["seed"]
    assert template.bind({"seed": 42}).graph["3"]["inputs"]["seed"] == 42
    seeded = [template.bind({}, rng=random.Random(7)).values["seed"] for _ in range(2)]
    assert seeded[0] == seeded[1]


def test_binding_never_changes_the_template(library: TemplateLibrary) -> None:
    template = library.templates["txt2img"]
    before = template.workflow.copy_graph()
    template.bind({"prompt": "something else", "steps": 5})
    assert template.workflow.copy_graph() == before
    assert template.bind({}).values["prompt"] == "a lighthouse on a cliff at dawn"  # unset: the workflow's own
