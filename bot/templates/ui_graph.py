"""A UI-format export (what ComfyUI saves by default) read into its parts: the root graph and each subgraph
definition (`definitions.subgraphs`) with their nodes and links, and every node where it runs, flattened as
ComfyUI's frontend flattens them (`ExecutableNodeDTO`): its execution id (`12`, or `5:12` inside subgraph
instance 5, `a:b:c` nested) and the instance holding it. `ui_format.py` turns it into a prompt."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .workflow import MAX_NODES

MUTED, BYPASSED = 2, 4  # LGraphEventMode.NEVER, LGraphEventMode.BYPASS
SUBGRAPH_IN, SUBGRAPH_OUT = -10, -20  # the ids of a subgraph's input and output nodes in its links
MAX_NESTING = 32  # subgraphs inside subgraphs: the official templates nest at most 2


class ConversionError(Exception):
    """A UI-format workflow that cannot become a prompt; the message names the node and says why."""


def is_ui_format(data: Any) -> bool:
    return isinstance(data, dict) and "nodes" in data and "links" in data


@dataclass(frozen=True, slots=True)
class Link:
    origin_id: Any
    origin_slot: int
    target_id: Any
    target_slot: int
    type: str


@dataclass
class Scope:
    """The root graph or one subgraph definition: its nodes and links by id."""

    nodes: dict[str, dict[str, Any]]
    links: dict[int, Link]
    definition: Mapping[str, Any] = field(default_factory=dict)  # a subgraph's: its `inputs`, `outputs`

    @functools.cached_property
    def from_output(self) -> dict[tuple[str, int], list[Link]]:
        """The links leaving each (node id, output slot): what an output feeds, found without a scan."""
        found: dict[tuple[str, int], list[Link]] = {}
        for link in self.links.values():
            found.setdefault((str(link.origin_id), link.origin_slot), []).append(link)
        return found


@dataclass
class Exec:
    """One node as the frontend's ExecutableNodeDTO sees it: where it is, and the subgraph instance holding it."""

    id: str  # execution id: "12", or "5:12" inside instance 5
    node: dict[str, Any]
    scope: Scope
    path: tuple[str, ...]  # the instance ids leading to its scope
    instance: Exec | None  # the subgraph node whose definition holds it

    @property
    def mode(self) -> int:
        mode = self.node.get("mode", 0)
        return mode if isinstance(mode, int) else 0

    @property
    def type(self) -> str:
        return str(self.node.get("type", ""))

    def inputs(self) -> list[dict[str, Any]]:
        return [i for i in self.node.get("inputs") or () if isinstance(i, dict)]

    def where(self) -> str:
        return f"node {self.id} `{self.type}`"


class UiGraph:
    """The export's scopes and its nodes by execution id. A muted or bypassed subgraph instance contributes none
    of its inner nodes (a bypassed one passes its inputs through by type)."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        definitions = data.get("definitions") if isinstance(data.get("definitions"), Mapping) else {}
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, Mapping) else None
        self.subgraphs: dict[str, Scope] = {
            str(s["id"]): scope_of(s.get("nodes"), s.get("links"), s)
            for s in subgraphs or ()
            if isinstance(s, Mapping) and "id" in s
        }
        self.root = scope_of(data.get("nodes"), data.get("links"), {})
        self.execs: dict[str, Exec] = {}
        self._flatten(self.root, (), None, set())

    def _flatten(self, scope: Scope, path: tuple[str, ...], instance: Exec | None, open_: set[str]) -> None:
        for node_id, node in scope.nodes.items():
            made = Exec(":".join((*path, node_id)), node, scope, path, instance)
            self.execs[made.id] = made
            if len(self.execs) > MAX_NODES:  # subgraphs holding two of another can multiply a few KB past any RAM
                raise ConversionError(f"it has more than {MAX_NODES:,} nodes once its subgraphs are expanded")
            definition = self.subgraphs.get(made.type)
            if definition is None:
                continue
            if made.type in open_:
                raise ConversionError(f"{made.where()}: the subgraph contains itself")
            if len(path) >= MAX_NESTING:
                raise ConversionError(f"{made.where()}: subgraphs nest deeper than {MAX_NESTING} levels")
            if made.mode in (MUTED, BYPASSED):
                continue
            self._flatten(definition, (*path, node_id), made, open_ | {made.type})


def scope_of(nodes: Any, links: Any, definition: Mapping[str, Any]) -> Scope:
    by_id: dict[str, dict[str, Any]] = {}
    for node in as_list(nodes):
        if isinstance(node, dict) and "id" in node:
            by_id[str(node["id"])] = node
    return Scope(by_id, dict(_links(links)), definition)


def _links(raw: Any) -> Iterator[tuple[int, Link]]:
    """The links of a graph: arrays `[id, origin, slot, target, slot, type]` at the root of older files,
    objects in subgraphs and newer files."""
    for entry in as_list(raw):
        if isinstance(entry, list) and len(entry) >= 5:
            link_id, origin, origin_slot, target, target_slot = entry[:5]
            kind = entry[5] if len(entry) > 5 else "*"
        elif isinstance(entry, Mapping):
            link_id, origin, origin_slot = entry.get("id"), entry.get("origin_id"), entry.get("origin_slot")
            target, target_slot, kind = entry.get("target_id"), entry.get("target_slot"), entry.get("type", "*")
        else:
            continue
        yield as_int(link_id), Link(origin, as_int(origin_slot), target, as_int(target_slot), str(kind))


def as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
