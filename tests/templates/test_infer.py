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


def test_a_value_a_primitive_drives_targets_the_primitive_and_other_links_are_reported() -> None:
    shape = graph("txt2img")
    shape["40"] = {"class_type": "PrimitiveInt", "inputs": {"value": 30}}
    shape["3"]["inputs"]["steps"] = ["40", 0]
    shape["41"] = {"class_type": "GetImageSize", "inputs": {"image": ["8", 0]}}
    shape["3"]["inputs"]["cfg"] = ["41", 0]
    found, warnings = inferred(shape)
    assert found["steps"] == ["40.value"]  # the PrimitiveInt is the steps
    assert "cfg" not in found
    assert "cfg: KSampler (node 3).cfg is linked; not exposed" in warnings


def test_a_video_graph_exposes_length_and_fps_and_each_lora_on_the_model_path() -> None:
    shape = {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "wan.safetensors", "weight_dtype": "default"}},
        "2": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {"model": ["1", 0], "lora_name": "near.safetensors", "strength_model": 1.0},
        },
        "3": {
            "class_type": "LoraLoaderModelOnly",
            "inputs": {"model": ["2", 0], "lora_name": "far.safetensors", "strength_model": 0.5},
        },
        "4": {"class_type": "CLIPLoader", "inputs": {"clip_name": "t5.safetensors", "type": "wan"}},
        "5": {"class_type": "PrimitiveStringMultiline", "inputs": {"value": "a fox running"}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["4", 0], "text": ["5", 0]}},
        "7": {
            "class_type": "EmptyHunyuanLatentVideo",
            "inputs": {"width": 832, "height": 480, "length": 33, "batch_size": 1},
        },
        "8": {"class_type": "PrimitiveInt", "inputs": {"value": 7}},
        "9": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["3", 0],
                "positive": ["6", 0],
                "negative": ["6", 0],
                "latent_image": ["7", 0],
                "seed": ["8", 0],
                "steps": 20,
                "cfg": 6.0,
                "sampler_name": "uni_pc",
                "scheduler": "simple",
                "denoise": 1.0,
            },
        },
        "10": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_vae.safetensors"}},
        "11": {"class_type": "VAEDecode", "inputs": {"samples": ["9", 0], "vae": ["10", 0]}},
        "12": {"class_type": "CreateVideo", "inputs": {"images": ["11", 0], "fps": 16.0}},
        "13": {
            "class_type": "SaveVideo",
            "inputs": {"video": ["12", 0], "filename_prefix": "video/x", "format": "auto", "codec": "auto"},
        },
    }
    found, _ = inferred(shape)
    assert found["prompt"] == ["5.value"] and found["seed"] == ["8.value"]
    assert found["model"] == ["1.unet_name"]
    assert found["length"] == ["7.length"] and found["fps"] == ["12.fps"]
    assert found["lora"] == ["2.lora_name"] and found["lora_strength"] == ["2.strength_model"]
    assert found["lora_2"] == ["3.lora_name"] and found["lora_strength_2"] == ["3.strength_model"]
