"""Parameters inferred from graphs without a manifest, on the shapes admins export."""

from __future__ import annotations

from typing import Any

from bot.templates.infer import infer
from bot.templates.params import Parameter
from bot.templates.workflow import Workflow
from tests.conftest import graph


def targets(params: tuple[Parameter, ...]) -> dict[str, list[str]]:
    return {p.name: [f"{t.node_id}.{t.input}" for t in p.targets] for p in params}


def inferred(shape: dict[str, Any]) -> tuple[dict[str, list[str]], tuple[str, ...]]:
    params, warnings = infer(Workflow(shape))
    return targets(params), warnings


def test_plain_sd15() -> None:
    found, warnings = inferred(graph("txt2img"))
    assert found == {
        "prompt": ["6.text"],
        "negative": ["7.text"],
        "seed": ["3.seed"],
        "steps": ["3.steps"],
        "cfg": ["3.cfg"],
        "sampler_name": ["3.sampler_name"],
        "scheduler": ["3.scheduler"],
        "denoise": ["3.denoise"],
        "width": ["5.width"],
        "height": ["5.height"],
        "batch_size": ["5.batch_size"],
        "model": ["4.ckpt_name"],
    }
    assert warnings == ()


def test_sdxl_with_a_refiner_uses_the_base_sampler_and_follows_the_chain() -> None:
    found, warnings = inferred(graph("sdxl_refiner"))
    assert found["prompt"] == ["6.text_g", "6.text_l", "15.text"]  # base encoder, and the refiner's same text
    assert found["negative"] == ["7.text_g", "7.text_l", "16.text"]
    assert found["seed"] == ["10.noise_seed", "11.noise_seed"]
    assert found["steps"] == ["10.steps", "11.steps"]
    assert found["cfg"] == ["10.cfg"] and found["model"] == ["4.ckpt_name"]
    assert found["width"] == ["5.width"] and "denoise" not in found  # KSamplerAdvanced has none
    assert any("node 11 (KSamplerAdvanced) continues from node 10" in w for w in warnings)


def test_img2img_exposes_the_image_instead_of_a_size() -> None:
    found, _ = inferred(graph("img2img"))
    assert found["image"] == ["10.image"]
    assert "width" not in found and found["denoise"] == ["3.denoise"]


def test_sampler_custom_reads_its_linked_nodes_and_walks_through_combine_and_lora() -> None:
    found, _ = inferred(graph("sampler_custom"))
    assert found["seed"] == ["3.noise_seed"] and found["cfg"] == ["3.cfg"]
    assert found["sampler_name"] == ["13.sampler_name"]
    assert found["steps"] == ["14.steps"] and found["scheduler"] == ["14.scheduler"]
    assert found["denoise"] == ["14.denoise"]
    assert found["prompt"] == ["6.text"]  # ConditioningCombine: the first input wins
    assert found["negative"] == ["7.text"]
    assert found["model"] == ["4.ckpt_name"]  # through the LoRA loader
    assert found["batch_size"] == ["5.batch_size"]


def test_two_independent_samplers_pick_the_lowest_id_and_say_so() -> None:
    shape = graph("txt2img")
    shape["30"] = {**shape["3"], "inputs": {**shape["3"]["inputs"]}}
    shape["31"] = {"class_type": "VAEDecode", "inputs": {"samples": ["30", 0], "vae": ["4", 2]}}
    shape["32"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "b", "images": ["31", 0]}}
    found, warnings = inferred(shape)
    assert found["steps"] == ["3.steps"]
    assert warnings == ("2 independent samplers; using node 3 (the lowest id); not exposed: 30 (KSampler)",)


def test_a_graph_without_sampler_exposes_its_images() -> None:
    found, _ = inferred(graph("preview_text"))
    assert found == {"image": ["1.image"]}


def test_a_linked_value_is_reported_not_exposed() -> None:
    shape = graph("txt2img")
    shape["40"] = {"class_type": "PrimitiveInt", "inputs": {"value": 30}}
    shape["3"]["inputs"]["steps"] = ["40", 0]
    found, warnings = inferred(shape)
    assert "steps" not in found
    assert "steps: KSampler (node 3).steps is linked; not exposed" in warnings
