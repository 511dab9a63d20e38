"""UI-format exports become the API graph ComfyUI's frontend would queue: one rule per test, each asserted
exactly, against the recorded `/object_info` (plus the few node classes `object_info_extra.json` describes)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from bot.comfy.models import NodeInfo, parse_object_info
from bot.templates.ui_format import convert
from bot.templates.ui_graph import ConversionError
from tests.templates.ui_graphs import TXT2IMG_API, UiGraph, subgraph, txt2img

FIXTURES = Path(__file__).parent.parent / "fixtures"


def recorded_nodes() -> dict[str, NodeInfo]:
    raw = json.loads((FIXTURES / "object_info_recorded.json").read_text())
    raw.update(json.loads((FIXTURES / "object_info_extra.json").read_text()))
    return parse_object_info(raw)


NODES = recorded_nodes()


def converted(export: dict[str, Any]) -> dict[str, Any]:
    return convert(export, NODES, "gpu1")


def expected(**changes: Any) -> dict[str, Any]:
    """The default workflow's API graph with some nodes replaced (None: absent)."""
    made = copy.deepcopy(TXT2IMG_API)
    for node_id, body in changes.items():
        if body is None:
            del made[node_id.lstrip("n")]
        else:
            made[node_id.lstrip("n")] = body
    return made


def test_widget_values_follow_the_input_order_and_the_seed_control_value_is_not_sent() -> None:
    graph = UiGraph()
    txt2img(graph)
    assert converted(graph.export()) == TXT2IMG_API


def test_the_upload_widget_of_load_image_is_skipped() -> None:
    graph = UiGraph()
    nodes = txt2img(graph)
    load = graph.node(10, "LoadImage", outputs=(("IMAGE", "IMAGE"), ("MASK", "MASK")), widgets=["example.png", "image"])
    encode = graph.node(11, "VAEEncode", inputs=(("pixels", "IMAGE"), ("vae", "VAE")), outputs=(("LATENT", "LATENT"),))
    graph.link(load, 0, encode, 0, "IMAGE")
    graph.link(nodes["checkpoint"], 2, encode, 1, "VAE")
    nodes["sampler"]["inputs"][3]["link"] = graph.link(encode, 0, nodes["sampler"], 3, "LATENT")
    sampler = copy.deepcopy(TXT2IMG_API["3"])
    sampler["inputs"]["latent_image"] = ["11", 0]
    assert converted(graph.export()) == expected(
        n3=sampler,
        n10={"inputs": {"image": "example.png"}, "class_type": "LoadImage", "_meta": {"title": "Load Image"}},
        n11={
            "inputs": {"pixels": ["10", 0], "vae": ["4", 2]},
            "class_type": "VAEEncode",
            "_meta": {"title": "VAEEncode"},
        },
    )


def with_reroutes() -> dict[str, Any]:
    graph = UiGraph()
    nodes = txt2img(graph)
    first = graph.node(20, "Reroute", inputs=(("", "*"),), outputs=(("", "MODEL"),))
    second = graph.node(21, "Reroute", inputs=(("", "*"),), outputs=(("", "MODEL"),))
    graph.links = [link for link in graph.links if link[3] != 3 or link[4] != 0]  # the sampler's model, rerouted
    graph.link(nodes["checkpoint"], 0, first, 0, "MODEL")
    graph.link(first, 0, second, 0, "MODEL")
    graph.link(second, 0, nodes["sampler"], 0, "MODEL")
    return graph.export()


def test_links_are_resolved_through_a_chain_of_reroutes() -> None:
    assert converted(with_reroutes()) == TXT2IMG_API


def with_primitive(*, through_reroute: bool = False) -> dict[str, Any]:
    graph = UiGraph()
    nodes = txt2img(graph, seed_input=True)
    primitive = graph.node(30, "PrimitiveNode", outputs=(("INT", "INT"),), widgets=[1234, "fixed"], title="seed")
    if through_reroute:
        reroute = graph.node(31, "Reroute", inputs=(("", "*"),), outputs=(("", "INT"),))
        graph.link(primitive, 0, reroute, 0, "INT")
        graph.link(reroute, 0, nodes["sampler"], 4, "INT")
    else:
        graph.link(primitive, 0, nodes["sampler"], 4, "INT")
    return graph.export()


@pytest.mark.parametrize("through_reroute", [False, True])
def test_a_primitive_node_writes_its_value_into_the_widget_it_feeds(through_reroute: bool) -> None:
    sampler = copy.deepcopy(TXT2IMG_API["3"])
    sampler["inputs"]["seed"] = 1234
    assert converted(with_primitive(through_reroute=through_reroute)) == expected(n3=sampler)


def test_a_converted_widget_that_takes_a_link_sends_the_link() -> None:
    graph = UiGraph()
    nodes = txt2img(graph)
    load = graph.node(10, "LoadImage", outputs=(("IMAGE", "IMAGE"), ("MASK", "MASK")), widgets=["example.png", "image"])
    size = graph.node(
        12,
        "GetImageSize",
        inputs=(("image", "IMAGE"),),
        outputs=(("width", "INT"), ("height", "INT"), ("batch_size", "INT")),
    )
    graph.link(load, 0, size, 0, "IMAGE")
    latent = nodes["latent"]
    latent["inputs"] = [{"name": "width", "type": "INT", "widget": {"name": "width"}, "link": None}]
    graph.link(size, 0, latent, 0, "INT")
    made = converted(graph.export())
    assert made["5"]["inputs"] == {"width": ["12", 0], "height": 512, "batch_size": 1}
    assert made["12"]["inputs"] == {"image": ["10", 0]}


def test_muted_nodes_are_not_sent_and_neither_are_notes_or_groups() -> None:
    graph = UiGraph()
    nodes = txt2img(graph)
    preview = graph.node(13, "PreviewImage", inputs=(("images", "IMAGE"),), mode=2)
    graph.link(nodes["decode"], 0, preview, 0, "IMAGE")
    graph.node(14, "Note", widgets=["Download the model first."])
    graph.node(15, "MarkdownNote", widgets=["# Read me"])
    assert converted(graph.export()) == TXT2IMG_API


def with_bypassed_node() -> dict[str, Any]:
    graph = UiGraph()
    nodes = txt2img(graph)
    scale = graph.node(
        16,
        "ImageScaleBy",
        inputs=(("image", "IMAGE"),),
        outputs=(("IMAGE", "IMAGE"),),
        widgets=["nearest-exact", 2.0],
        mode=4,
    )
    graph.links = [link for link in graph.links if link[3] != 9]  # decode -> scale (bypassed) -> save
    graph.link(nodes["decode"], 0, scale, 0, "IMAGE")
    graph.link(scale, 0, nodes["save"], 0, "IMAGE")
    return graph.export()


def test_a_bypassed_node_passes_its_input_of_the_same_type_through() -> None:
    assert converted(with_bypassed_node()) == TXT2IMG_API


def with_subgraph() -> dict[str, Any]:
    """The positive prompt is a subgraph (instance 40) holding a CLIPTextEncode (inner node 1): the clip comes
    in through the subgraph's first input, the text is a widget promoted to the instance."""
    graph = UiGraph()
    nodes = txt2img(graph)
    graph.nodes = [n for n in graph.nodes if n["id"] != 6]
    graph.links = [link for link in graph.links if 6 not in (link[1], link[3])]
    inner = UiGraph(object_links=True, link_ids=iter(range(100, 200)))  # type: ignore[arg-type]
    encode = inner.node(
        1,
        "CLIPTextEncode",
        inputs=(("clip", "CLIP"), ("text", "STRING", "text")),
        outputs=(("CONDITIONING", "CONDITIONING"),),
        widgets=["the inner default"],
    )
    clip_in = inner.link(-10, 0, encode, 0, "CLIP")
    text_in = inner.link(-10, 1, encode, 1, "STRING")
    out = inner.link(encode, 0, -20, 0, "CONDITIONING")
    definition = subgraph(
        "a1b2c3d4-0000-4000-8000-00000000000a",
        inner,
        inputs=[("clip", "CLIP", [clip_in]), ("text", "STRING", [text_in])],
        outputs=[("CONDITIONING", "CONDITIONING", [out])],
    )
    instance = graph.node(
        40,
        definition["id"],
        inputs=(("clip", "CLIP"), ("text", "STRING", "text")),
        outputs=(("CONDITIONING", "CONDITIONING"),),
        widgets=["a fox in the snow"],
    )
    graph.link(nodes["checkpoint"], 1, instance, 0, "CLIP")
    graph.link(instance, 0, nodes["sampler"], 1, "CONDITIONING")
    return graph.export((definition,))


def test_a_subgraph_is_flattened_into_execution_ids_with_its_promoted_widget_values() -> None:
    sampler = copy.deepcopy(TXT2IMG_API["3"])
    sampler["inputs"]["positive"] = ["40:1", 0]
    assert converted(with_subgraph()) == expected(
        n6=None,
        n3=sampler,
        **{
            "40:1": {
                "inputs": {"text": "a fox in the snow", "clip": ["4", 1]},
                "class_type": "CLIPTextEncode",
                "_meta": {"title": "CLIP Text Encode (Prompt)"},
            }
        },
    )


def test_a_node_the_server_lacks_is_refused_by_id_type_and_server() -> None:
    graph = UiGraph()
    txt2img(graph)
    graph.node(12, "FooNode", outputs=(("IMAGE", "IMAGE"),))
    with pytest.raises(ConversionError, match=r"^node 12 `FooNode` is not installed on gpu1$"):
        converted(graph.export())


def test_a_required_input_lost_to_a_muted_node_is_refused_naming_both() -> None:
    graph = UiGraph()
    nodes = txt2img(graph)
    nodes["decode"]["mode"] = 2
    with pytest.raises(ConversionError, match=r"node 9 `SaveImage`: its required input 'images' has no value"):
        converted(graph.export())


UI_RULES = {
    "subgraph": with_subgraph,
    "bypassed": with_bypassed_node,
    "primitive": with_primitive,
    "reroutes": with_reroutes,
}


def test_a_seed_the_server_declares_without_control_has_no_control_value_whatever_its_name() -> None:
    """`/object_info` says `control_after_generate: false`: the frontend adds no control widget, so the next
    saved value is the next widget's (ComfyUI_frontend useIntWidget: the flag first, the name only without it)."""
    nodes = dict(NODES)
    nodes.update(
        parse_object_info(
            {
                "FixedSeed": {
                    "input": {
                        "required": {
                            "seed": ["INT", {"default": 0, "control_after_generate": False}],
                            "mode": [["fixed", "loop"], {}],
                        }
                    },
                    "output": ["INT"],
                    "output_node": True,
                }
            }
        )
    )
    graph = UiGraph()
    graph.node(1, "FixedSeed", outputs=(("INT", "INT"),), widgets=[7, "fixed"])
    assert convert(graph.export(), nodes, "gpu1")["1"]["inputs"] == {"seed": 7, "mode": "fixed"}
