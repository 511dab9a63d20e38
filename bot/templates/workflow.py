"""A ComfyUI workflow in API format ("Save (API Format)", or converted from the UI format by `ui_format.py`):
node id -> class_type, inputs, _meta.title."""

from __future__ import annotations

import json
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


def read_json(file: str, text: str) -> Any:
    """A workflow file's JSON; broken JSON is a `TemplateLoadError` naming the line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateLoadError(file, f"broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None


def parse_workflow(file: str, text: str) -> Workflow:
    """Parse a file's text; every problem is a `TemplateLoadError` that names the file and says what to do."""
    return graph_workflow(file, read_json(file, text))


def graph_workflow(file: str, data: Any) -> Workflow:
    """An API-format graph (as exported, or converted from the UI format), checked."""
    if not isinstance(data, dict) or not data:
        raise TemplateLoadError(file, "expected an API-format workflow: an object of node id -> node")
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
    return Workflow(data)
