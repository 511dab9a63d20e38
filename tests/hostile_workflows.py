"""Hostile workflow files, generated: small files whose graphs cost a naive reader exponential or quadratic time
(links that fan out by levels, subgraphs that nest two of themselves, thousands of PrimitiveNodes, long chains
of bypassed nodes), and files past the readers' bounds. Each case is (name, file text, what the bot must do:
"loads" or "refused"). The tests load each one within a stated bound; `bench/hostile_corpus.py` prints what
each costs."""

from __future__ import annotations

import asyncio
import copy
import json
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bot.comfy.models import parse_object_info
from bot.templates.catalog import catalog_of
from bot.templates.library import TemplateLibrary
from tests.fakes.comfy_server import load_object_info
from tests.templates.ui_graphs import TXT2IMG_API, UiGraph, subgraph, txt2img

Json = dict[str, Any]


def api_fan_out(levels: int) -> Json:
    """The default workflow whose positive conditioning goes through `levels` ConditioningCombine nodes, each
    taking the one before it twice, down to a node with no text: 2**levels paths for a reader that looks for the
    prompt along every path (3.4 KB at 40 levels)."""
    graph = copy.deepcopy(TXT2IMG_API)
    graph["99"] = {"inputs": {}, "class_type": "ConditioningZeroOut"}
    previous = "99"
    for level in range(levels):
        node = str(100 + level)
        graph[node] = {
            "inputs": {"conditioning_1": [previous, 0], "conditioning_2": [previous, 0]},
            "class_type": "ConditioningCombine",
        }
        previous = node
    graph["3"]["inputs"]["positive"] = [previous, 0]
    return graph


def api_wide_strings(width: int, levels: int = 4) -> Json:
    """The positive text comes from a string node whose `width` inputs all link to the next level's node, and
    so on: width**levels paths for a reader that walks every input back."""
    graph = copy.deepcopy(TXT2IMG_API)
    below = "200"
    graph[below] = {"inputs": {"a": 1}, "class_type": "StringConcatenate"}
    for level in range(1, levels + 1):
        node = str(200 + level)
        graph[node] = {"inputs": {f"s{n}": [below, 0] for n in range(width)}, "class_type": "StringConcatenate"}
        below = node
    graph["6"]["inputs"]["text"] = [below, 0]
    return graph


def ui_nested_subgraphs(depth: int) -> Json:
    """A UI export whose subgraph k holds two instances of subgraph k-1: 2**depth nodes once flattened, in a
    file of a few KB."""
    graph = UiGraph()
    nodes = txt2img(graph)
    definitions = []
    for level in range(depth):
        inner = UiGraph(object_links=True)
        if level == 0:
            inner.node(1, "Note", widgets=["leaf"])
        else:
            for n in (1, 2):
                inner.node(n, f"00000000-0000-4000-8000-{level - 1:012d}")
        definitions.append(subgraph(f"00000000-0000-4000-8000-{level:012d}", inner, [], []))
    graph.node(50, f"00000000-0000-4000-8000-{depth - 1:012d}")
    del nodes
    return graph.export(tuple(definitions))


def ui_primitives(count: int) -> Json:
    """A UI export with `count` PrimitiveNodes, each driving the seed of a KSampler of its own (through a
    Reroute): a reader that scans every link for each primitive is quadratic."""
    graph = UiGraph()
    nodes = txt2img(graph, seed_input=True)
    sampler = nodes["sampler"]
    for n in range(count):
        primitive = graph.node(
            1000 + n, "PrimitiveNode", outputs=(("INT", "INT"),), widgets=[n, "fixed"], title=f"seed {n}"
        )
        reroute = graph.node(20000 + n, "Reroute", inputs=(("", "*"),), outputs=(("INT", "INT"),))
        graph.link(primitive, 0, reroute, 0, "INT")
        if n == 0:
            graph.link(reroute, 0, sampler, 4, "INT")
    return graph.export()


def ui_bypass_chain(length: int, consumers: int) -> Json:
    """`length` bypassed LatentUpscaleBy nodes in a chain, read by `consumers` VAEDecode/SaveImage pairs: a
    reader that walks the chain again for each consumer is quadratic."""
    graph = UiGraph()
    nodes = txt2img(graph)
    previous, slot = nodes["sampler"], 0
    for n in range(length):
        node = graph.node(
            3000 + n,
            "LatentUpscaleBy",
            inputs=(("samples", "LATENT"),),
            outputs=(("LATENT", "LATENT"),),
            widgets=["nearest-exact", 1.5],
            mode=4,
        )
        graph.link(previous, slot, node, 0, "LATENT")
        previous, slot = node, 0
    for n in range(consumers):
        decode = graph.node(
            8000 + n, "VAEDecode", inputs=(("samples", "LATENT"), ("vae", "VAE")), outputs=(("IMAGE", "IMAGE"),)
        )
        graph.link(previous, slot, decode, 0, "LATENT")
        graph.link(nodes["checkpoint"], 2, decode, 1, "VAE")
        save = graph.node(9000 + n, "SaveImage", inputs=(("images", "IMAGE"),), widgets=[f"out{n}"])
        graph.link(decode, 0, save, 0, "IMAGE")
    return graph.export()


def too_large() -> str:
    """A valid API workflow past 8 MiB: a note of 9 MiB in a title."""
    graph = copy.deepcopy(TXT2IMG_API)
    graph["9"]["_meta"]["title"] = "x" * (9 * 2**20)
    return json.dumps(graph)


def deeply_nested() -> str:
    """The default workflow with a value nested 100,000 lists deep (Python's parser recurses on each)."""
    text = json.dumps(TXT2IMG_API)
    return text[:-1] + ', "deep": ' + "[" * 100_000 + "]" * 100_000 + "}"


def api_cycle(length: int) -> Json:
    """The positive prompt goes round a loop of `length` ConditioningCombine nodes."""
    graph = copy.deepcopy(TXT2IMG_API)
    for n in range(length):
        graph[str(300 + n)] = {
            "inputs": {"conditioning_1": [str(300 + (n + 1) % length), 0], "conditioning_2": ["6", 0]},
            "class_type": "ConditioningCombine",
        }
    graph["3"]["inputs"]["positive"] = ["300", 0]
    return graph


Case = tuple[str, Callable[[], str], str]


def _json(make: Callable[[], Json]) -> Callable[[], str]:
    return lambda: json.dumps(make())


CASES: list[Case] = [
    ("api-fan-out-40-levels", _json(lambda: api_fan_out(40)), "loads"),
    ("api-wide-strings-300x4", _json(lambda: api_wide_strings(300)), "loads"),
    ("ui-nested-subgraphs-24", _json(lambda: ui_nested_subgraphs(24)), "refused"),
    ("ui-primitives-2400", _json(lambda: ui_primitives(2400)), "loads"),
    ("ui-bypass-chain-2000x400", _json(lambda: ui_bypass_chain(2000, 400)), "loads"),
    ("api-cycle-1000", _json(lambda: api_cycle(1000)), "refused"),
    ("too-large-9-mib", too_large, "refused"),
    ("nested-100000-deep", deeply_nested, "refused"),
]


def cases() -> Iterator[Case]:
    yield from CASES


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[Any, float, float]:
    """What `work` gives (or raised), how long it took, and the longest the event loop stalled meanwhile (a
    ticker every 5 ms)."""
    stalls = [0.0]

    async def tick() -> None:
        while True:
            at = time.perf_counter()
            await asyncio.sleep(0.005)
            stalls.append(time.perf_counter() - at - 0.005)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    try:
        found = await work()
    except Exception as exc:  # the outcome is what it raised
        found = exc
    took = time.perf_counter() - started
    await asyncio.sleep(0.02)
    ticker.cancel()
    return found, took, max(stalls)


def _measure(name: str, on_loop: bool) -> dict[str, Any]:
    """Load one case as the running bot does (`TemplateLibrary.refresh`, or `reload()` on the event loop with
    `on_loop`, as before), with a ticker on the loop: how long it took, the longest the loop stalled, what the
    library made of the file, and this process's peak RSS."""
    make = next(make for case, make, _ in CASES if case == name)
    folder = Path(tempfile.mkdtemp())
    (folder / "hostile.json").write_text(make())
    library = TemplateLibrary(folder)
    library.catalog = catalog_of([("gpu1", parse_object_info(load_object_info()))])  # the recorded server's

    async def load() -> Any:
        return library.reload() if on_loop else await library.refresh()

    report, took, stall = asyncio.run(timed(load))
    found = {
        "took": took,
        "stall": stall,
        "loaded": bool(report.loaded),
        "error": next(iter(report.errors.values()), ""),
    }
    found["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return found


if __name__ == "__main__":  # python -m tests.hostile_workflows CASE [--on-loop]: one case's figures, as JSON
    print(json.dumps(_measure(sys.argv[1], "--on-loop" in sys.argv)))
