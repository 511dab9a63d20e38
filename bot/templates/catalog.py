"""What the ComfyUI servers offer, as UI-format workflows need it to become prompts: each node class's inputs
(which are widgets, in which order), from the servers' `/object_info`."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.comfy.models import NodeInfo


@dataclass(frozen=True)
class NodeCatalog:
    nodes: Mapping[str, NodeInfo]  # each class as the first server that has it describes it
    servers: tuple[str, ...]
    fingerprint: str  # the same for the same node definitions: conversions are cached by it
    output_nodes: frozenset[str] = frozenset()  # the classes flagged `output_node`: a template's results

    def where(self) -> str:
        """The servers, as a refusal names them ("gpu1", "gpu1 or gpu2")."""
        return " or ".join(self.servers) or "any ComfyUI server"


def catalog_of(servers: Sequence[tuple[str, Mapping[str, NodeInfo]]]) -> NodeCatalog:
    """One catalog from (server name, its `/object_info`) pairs, in the order given."""
    nodes: dict[str, NodeInfo] = {}
    for _, infos in servers:
        for name, info in infos.items():
            nodes.setdefault(name, info)
    digest = hashlib.sha256()
    for name in sorted(nodes):
        info = nodes[name]
        digest.update(
            repr((name, info.required, info.optional, info.outputs, info.output_node, info.display_name)).encode()
        )
    outputs = frozenset(name for name, info in nodes.items() if info.output_node)
    return NodeCatalog(nodes, tuple(name for name, _ in servers), digest.hexdigest(), outputs)
