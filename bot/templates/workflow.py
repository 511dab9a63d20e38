"""A ComfyUI workflow in API format ("Save (API Format)", or converted from the UI format by `ui_format.py`):
node id -> class_type, inputs, _meta.title."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import TemplateLoadError

Link = tuple[str, int]


def as_link(value: Any) -> Link | None:
    """`["4", 0]` (a link to output 0 of node 4) as a tuple; anything else is a literal value."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int):
        return value[0], value[1]
    return None


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    class_type: str
    inputs: Mapping[str, Any]
    title: str | None

    def link(self, name: str) -> Link | None:
        return as_link(self.inputs.get(name))

    def literal(self, name: str) -> Any:
        value = self.inputs.get(name)
        return None if as_link(value) else value


class Workflow:
    """An immutable view of an API-format graph; `copy_graph()` gives the dict to bind into."""

    def __init__(self, graph: Mapping[str, Any]) -> None:
        # A graph is JSON data: a copy is one parse of its text (several times cheaper than copy.deepcopy, and
        # made once per job)
        self._text = json.dumps(dict(graph))
        self._graph: dict[str, Any] = json.loads(self._text)
        self.nodes: dict[str, Node] = {
            node_id: Node(
                id=node_id,
                class_type=body["class_type"],
                inputs=body.get("inputs") or {},
                title=(body.get("_meta") or {}).get("title"),
            )
            for node_id, body in self._graph.items()
        }

    def copy_graph(self) -> dict[str, Any]:
        return json.loads(self._text)  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes.values())

    def by_title(self, title: str) -> list[Node]:
        return [node for node in self if node.title == title]

    def source(self, node: Node, input_name: str) -> Node | None:
        """The node a linked input comes from."""
        link = node.link(input_name)
        return self.nodes.get(link[0]) if link else None

    def consumers(self, node_id: str) -> list[tuple[Node, str]]:
        """Every (node, input name) that takes an output of `node_id`."""
        return [
            (node, name)
            for node in self
            for name, value in node.inputs.items()
            if (link := as_link(value)) is not None and link[0] == node_id
        ]


MAX_FILE_CHARS = 8 * 2**20  # the largest official template is under 1 MiB; a larger file is refused unread
MAX_NODES = 5_000  # nodes of one graph (subgraphs included): the official templates use at most a few hundred
MAX_DEPTH = 64  # nesting of JSON values: a workflow's is under 10


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(file: str, text: str) -> Any:
    """A workflow file's JSON, bounded: broken JSON (with its line and column), `NaN`/`Infinity`, nesting past
    `MAX_DEPTH` and a file past `MAX_FILE_CHARS` are each a `TemplateLoadError` saying so."""
    if len(text) > MAX_FILE_CHARS:
        raise TemplateLoadError(file, f"is larger than the {MAX_FILE_CHARS // 2**20} MiB a workflow may be")
    if _depth(text) > MAX_DEPTH:
        raise TemplateLoadError(file, f"nests its values deeper than {MAX_DEPTH} levels; no workflow does")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise TemplateLoadError(file, f"broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except ValueError as exc:
        raise TemplateLoadError(file, f"broken JSON: {exc}") from None


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, its escapes included (unrolled: linear)
_BRACKET = re.compile(r"[\[\]{}]")


def _depth(text: str) -> int:
    """How deep the brackets of a JSON text nest, strings skipped (linear, before any parsing)."""
    deepest = depth = 0
    for bracket in _BRACKET.findall(_STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def parse_workflow(file: str, text: str) -> Workflow:
    """Parse a file's text; every problem is a `TemplateLoadError` that names the file and says what to do."""
    return graph_workflow(file, read_json(file, text))


def graph_workflow(file: str, data: Any) -> Workflow:
    """An API-format graph (as exported, or converted from the UI format), checked."""
    if not isinstance(data, dict) or not data:
        raise TemplateLoadError(file, "expected an API-format workflow: an object of node id -> node")
    if len(data) > MAX_NODES:
        raise TemplateLoadError(file, f"has {len(data):,} nodes; a workflow may have at most {MAX_NODES:,}")
    for node_id, body in data.items():
        if not isinstance(body, dict) or not isinstance(body.get("class_type"), str):
            raise TemplateLoadError(file, f"node {node_id} has no class_type; is this an API-format export?")
        if not isinstance(body.get("inputs", {}), dict):
            raise TemplateLoadError(file, f"node {node_id} ({body['class_type']}) has inputs that are not an object")
        for name, value in body.get("inputs", {}).items():
            link = as_link(value)
            if link is not None and link[0] not in data:
                raise TemplateLoadError(
                    file,
                    f"node {node_id} ({body['class_type']}) input '{name}' links to node {link[0]}, which is missing",
                )
    loop = _loop(data)
    if loop:
        raise TemplateLoadError(file, f"its links go round in a loop ({' -> '.join(loop)}); ComfyUI cannot run it")
    return Workflow(data)


def _loop(data: Mapping[str, Any]) -> list[str]:
    """Nodes whose links form a cycle (each node's inputs, followed), or []: one linear pass (Kahn's order)."""
    needs = {
        node_id: {link[0] for value in (body.get("inputs") or {}).values() if (link := as_link(value)) is not None}
        for node_id, body in data.items()
    }
    feeds: dict[str, list[str]] = {node_id: [] for node_id in needs}
    for node_id, sources in needs.items():
        for source in sources:
            feeds[source].append(node_id)
    waiting = {node_id: len(sources) for node_id, sources in needs.items()}
    ready = [node_id for node_id, count in waiting.items() if count == 0]
    while ready:
        for consumer in feeds[ready.pop()]:
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                ready.append(consumer)
    left = {node_id for node_id, count in waiting.items() if count > 0}  # the loops, and what they feed
    looping = [node_id for node_id in left if needs[node_id] & left and set(feeds[node_id]) & left]
    return sorted(looping, key=str)[:6]
