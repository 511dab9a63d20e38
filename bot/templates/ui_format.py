"""UI-format workflows, what ComfyUI saves by default (`nodes` and `links`, often with subgraphs in
`definitions.subgraphs`), turned into the API format the way ComfyUI's own frontend does when it queues a
prompt (Comfy-Org/ComfyUI_frontend: `graphToPrompt` in src/utils/executionUtil.ts, and `ExecutableNodeDTO`'s
`resolveInput`/`resolveOutput` in src/lib/litegraph/src/subgraph/ExecutableNodeDTO.ts):

- a node's `widgets_values` are its widgets' values in the order of its widget inputs in `/object_info`
  (required, then optional; sockets and `forceInput` inputs have no widget). A seed-like widget
  (`control_after_generate`) is followed by its control widget's value ("fixed/increment/decrement/randomize",
  or `true`/`false` in older exports), which is not sent, whatever it holds;
  trailing values (the upload button of LoadImage-like nodes) are not widgets of the API. An array value is sent
  as `{"__value__": [...]}`, as the frontend does, so it is not read as a link;
- links are resolved to the node that really produces the value: through Reroute nodes, through bypassed nodes
  (mode 4: the first input of the link's type, preferring the same slot), into and out of subgraphs;
- a PrimitiveNode writes its value into the widgets it feeds (its `applyToGraph`); a linked input that resolves
  to nothing keeps the widget's own value; converted widgets that take a link send the link;
- muted (mode 2) and bypassed (mode 4) nodes, notes and the other frontend-only nodes are not sent, and inputs
  linked to a node that is not sent are dropped;
- a subgraph's inner nodes are sent as `instance:inner` (nested: `a:b:c`), ComfyUI's execution ids; a
  subgraph's inputs that are not linked on the instance take the instance's promoted widget values.

What cannot be converted is a `ConversionError` naming the node and why.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.comfy.models import InputSpec, NodeInfo

from .ui_graph import BYPASSED, MUTED, SUBGRAPH_IN, SUBGRAPH_OUT, ConversionError, Exec, Scope, UiGraph, as_int, as_list

VIRTUAL = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote"})  # the frontend's own nodes, never sent
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
SEED_NAMES = ("seed", "noise_seed")  # older servers do not flag these; the frontend gives them a control anyway


@dataclass(frozen=True, slots=True)
class _Widget:
    value: Any


@dataclass(frozen=True, slots=True)
class _Origin:
    node: str
    slot: int


_Resolved = _Widget | _Origin | None
_Step = tuple[str, Exec, int]  # ("in" or "out", the node, the slot): where a link is being followed


def convert(data: Mapping[str, Any], nodes: Mapping[str, NodeInfo], server: str) -> dict[str, Any]:
    """The API-format graph of a UI export, with `nodes` (a server's `/object_info`) telling each node's widgets;
    `server` names that server in what cannot be converted."""
    return _Converter(data, nodes, server).run()


class _Converter:
    def __init__(self, data: Mapping[str, Any], nodes: Mapping[str, NodeInfo], server: str) -> None:
        self.nodes, self.server = nodes, server
        graph = UiGraph(data)
        self.subgraphs, self.execs = graph.subgraphs, graph.execs
        self.widget_overrides: dict[tuple[str, str], Any] = {}  # (exec id, widget name) -> a PrimitiveNode's value
        self._resolved: dict[tuple[str, str, int, str], _Resolved] = {}  # (side, exec id, slot, type) -> its end

    # ---- the prompt ------------------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        for made in self.execs.values():
            if made.type == "PrimitiveNode" and made.mode not in (MUTED, BYPASSED):
                self._apply_primitive(made)
        output: dict[str, Any] = {}
        for made in self.execs.values():
            if made.mode in (MUTED, BYPASSED) or made.type in VIRTUAL or made.type in self.subgraphs:
                continue
            output[made.id] = self._prompt_node(made)
        for body in output.values():  # inputs linked to a node that is not sent are dropped, as the frontend does
            inputs = body["inputs"]
            for name in [n for n, v in inputs.items() if _is_link(v) and v[0] not in output]:
                del inputs[name]
        if not output:
            raise ConversionError("it has no node ComfyUI would run")
        self._check_required(output)
        return output

    def _prompt_node(self, made: Exec) -> dict[str, Any]:
        info = self.nodes.get(made.type)
        if info is None:
            if "workflow>" in made.type or "workflow/" in made.type:
                raise ConversionError(
                    f"{made.where()} is a group node: in ComfyUI, convert it to a subgraph and export again"
                )
            raise ConversionError(f"{made.where()} is not installed on {self.server}")
        inputs = self._widget_values(made, info)
        for slot, entry in enumerate(made.inputs()):
            name = entry.get("name")
            if not isinstance(name, str):
                continue
            resolved = self._resolve_input(made, slot)
            if isinstance(resolved, _Widget):
                inputs[name] = _wrap(resolved.value)
            elif isinstance(resolved, _Origin):
                inputs[name] = [resolved.node, resolved.slot]
        title = made.node.get("title")
        return {
            "inputs": inputs,
            "class_type": made.type,
            "_meta": {"title": title if isinstance(title, str) and title else (info.display_name or made.type)},
        }

    def _widget_values(self, made: Exec, info: NodeInfo) -> dict[str, Any]:
        widgets = _widget_inputs(info, made.inputs())
        raw = made.node.get("widgets_values")
        values: dict[str, Any] = {}
        if isinstance(raw, Mapping):  # some nodes save their widgets by name
            for name, _ in widgets:
                if name in raw:
                    values[name] = raw[name]
        else:
            given = list(raw) if isinstance(raw, list) else []
            index = 0
            for name, spec in widgets:
                if index < len(given):
                    values[name] = given[index]
                    index += 1
                elif spec.default is not None:  # an input added to the node since the export: its default
                    values[name] = spec.default
                if _has_control(name, spec) and index < len(given):
                    index += 1  # the control widget's slot, whatever it holds (older exports save `true`)
        for name, _ in widgets:
            if (made.id, name) in self.widget_overrides:
                values[name] = self.widget_overrides[(made.id, name)]
        return {name: _wrap(value) for name, value in values.items()}

    def _apply_primitive(self, primitive: Exec) -> None:
        """A PrimitiveNode's value goes into every widget it feeds (through Reroutes too)."""
        raw = primitive.node.get("widgets_values")
        if not isinstance(raw, list) or not raw:
            return
        for target, slot in self._consumers(primitive, 0, set()):
            entries = target.inputs()
            widget = entries[slot].get("widget") if slot < len(entries) else None
            name = widget.get("name") if isinstance(widget, Mapping) else None
            if isinstance(name, str):
                self.widget_overrides[(target.id, name)] = raw[0]

    def _consumers(self, made: Exec, slot: int, seen: set[str]) -> Iterator[tuple[Exec, int]]:
        """The (node, input slot) pairs an output feeds in its scope, Reroutes followed."""
        if made.id in seen:
            return
        seen.add(made.id)
        for link in made.scope.from_output.get((str(made.node.get("id")), slot), ()):
            target = self.execs.get(":".join((*made.path, str(link.target_id))))
            if target is None:
                continue
            if target.type == "Reroute":
                yield from self._consumers(target, 0, seen)
            else:
                yield target, link.target_slot

    # ---- resolving links (ExecutableNodeDTO.resolveInput / resolveOutput) -------------------------------
    # A link is followed one step at a time, in a loop (a chain of thousands of Reroutes or bypassed nodes
    # would exhaust Python's recursion), and what each step resolves to is remembered, so consumers that share
    # a chain walk it once between them: linear in the graph, whatever its shape.

    def _resolve_input(self, made: Exec, slot: int) -> _Resolved:
        return self._follow(("in", made, slot), "")

    def _follow(self, step: _Step, wanted: str) -> _Resolved:
        passed: list[tuple[str, str, int, str]] = []
        result: _Resolved
        while True:
            kind, made, slot = step
            key = (kind, made.id, slot, wanted)
            if key in self._resolved:
                result = self._resolved[key]
                break
            if key in passed:
                side = "input" if kind == "in" else "output"
                raise ConversionError(f"{made.where()}: its {side} {slot} is part of a loop of links")
            passed.append(key)
            found = self._input_step(made, slot, wanted) if kind == "in" else self._output_step(made, slot, wanted)
            if not isinstance(found, tuple):
                result = found
                break
            step, wanted = found
        for key in passed:
            self._resolved[key] = result
        return result

    def _input_step(self, made: Exec, slot: int, wanted: str) -> _Resolved | tuple[_Step, str]:
        entries = made.inputs()
        if slot >= len(entries):
            return None
        link_id = entries[slot].get("link")
        if link_id is None:
            return None
        link = made.scope.links.get(as_int(link_id))
        if link is None:
            raise ConversionError(
                f"{made.where()}: its input {entries[slot].get('name')!r} uses link {link_id}, "
                "which the file does not have"
            )
        wanted = wanted or str(entries[slot].get("type", "*"))
        if made.instance is not None and as_int(link.origin_id) == SUBGRAPH_IN:
            return self._instance_step(made.instance, link.origin_slot, wanted)
        origin = self.execs.get(":".join((*made.path, str(link.origin_id))))
        if origin is None:
            raise ConversionError(
                f"{made.where()}: its input {entries[slot].get('name')!r} comes from node "
                f"{link.origin_id}, which the file does not have"
            )
        return ("out", origin, link.origin_slot), wanted

    def _instance_step(self, instance: Exec, index: int, wanted: str) -> _Resolved | tuple[_Step, str]:
        """A subgraph's input `index`, as its instance provides it: a link outside, or a promoted widget."""
        definition = self.subgraphs[instance.type].definition
        inputs = [i for i in as_list(definition.get("inputs")) if isinstance(i, Mapping)]
        if index >= len(inputs):
            return None
        name = inputs[index].get("name")
        entries = instance.inputs()
        slot = next((n for n, e in enumerate(entries) if e.get("name") == name), None)
        if slot is not None and entries[slot].get("link") is not None:
            return ("in", instance, slot), wanted
        promoted = self._promoted_values(instance)
        return _Widget(promoted[index]) if index in promoted else None

    def _promoted_values(self, instance: Exec) -> dict[int, Any]:
        """The instance's widget values, by the index of the subgraph input each belongs to: one for each input
        that feeds a widget inside, in the definition's order."""
        raw = instance.node.get("widgets_values")
        if not isinstance(raw, list):
            return {}
        scope = self.subgraphs[instance.type]
        found: dict[int, Any] = {}
        values = iter(raw)
        for index, declared in enumerate(as_list(scope.definition.get("inputs"))):
            if not isinstance(declared, Mapping) or not self._feeds_widget(scope, declared):
                continue
            value = next(values, _MISSING)
            if value is not _MISSING:
                found[index] = value
        return found

    @staticmethod
    def _feeds_widget(scope: Scope, declared: Mapping[str, Any]) -> bool:
        for link_id in as_list(declared.get("linkIds")):
            link = scope.links.get(as_int(link_id))
            target = scope.nodes.get(str(link.target_id)) if link else None
            entries = [i for i in (target or {}).get("inputs") or () if isinstance(i, dict)]
            if link and link.target_slot < len(entries) and entries[link.target_slot].get("widget"):
                return True
        return False

    def _output_step(self, made: Exec, slot: int, wanted: str) -> _Resolved | tuple[_Step, str]:
        if made.mode == BYPASSED:
            index = self._bypass_slot(made, slot, wanted)
            return None if index < 0 else (("in", made, index), wanted)
        if made.type in self.subgraphs:
            return self._subgraph_output_step(made, slot, wanted)
        if made.type in VIRTUAL:
            return (("in", made, slot), wanted) if slot < len(made.inputs()) else None
        return _Origin(made.id, slot)  # (a muted node's consumers lose the input when it is not sent)

    def _subgraph_output_step(self, instance: Exec, slot: int, wanted: str) -> _Resolved | tuple[_Step, str]:
        scope = self.subgraphs[instance.type]
        outputs = [o for o in as_list(scope.definition.get("outputs")) if isinstance(o, Mapping)]
        shown = as_list(instance.node.get("outputs"))
        name = shown[slot].get("name") if slot < len(shown) and isinstance(shown[slot], Mapping) else None
        index = next((n for n, o in enumerate(outputs) if name is not None and o.get("name") == name), slot)
        if index >= len(outputs):
            return None
        for link_id in as_list(outputs[index].get("linkIds")):
            link = scope.links.get(as_int(link_id))
            if link is None or as_int(link.target_id) != SUBGRAPH_OUT:
                continue
            inner = self.execs.get(":".join((*instance.path, str(instance.node.get("id")), str(link.origin_id))))
            if inner is None:
                return None
            return ("out", inner, link.origin_slot), wanted
        return None

    def _bypass_slot(self, made: Exec, slot: int, wanted: str) -> int:
        """The input a bypassed node passes to its output `slot` (ExecutableNodeDTO#getBypassSlotIndex)."""
        entries = made.inputs()
        if wanted in ("*", ""):
            return slot if len(entries) > slot else (0 if entries else -1)
        outputs = as_list(made.node.get("outputs"))
        produced = (
            str(outputs[slot].get("type", "*")) if slot < len(outputs) and isinstance(outputs[slot], Mapping) else "*"
        )
        types = [str(e.get("type", "*")) for e in entries]
        if slot < len(types) and _fits(types[slot], produced) and _fits(types[slot], wanted):
            return slot
        if wanted in types:
            return types.index(wanted)
        return next((n for n, t in enumerate(types) if _fits(t, produced) and _fits(t, wanted)), -1)

    # ---- checks ------------------------------------------------------------------------------------------

    def _check_required(self, output: Mapping[str, Any]) -> None:
        """Every node an output needs has its required inputs: a missing one is named here, not by ComfyUI."""
        wanted = [n for n, body in output.items() if (info := self.nodes.get(body["class_type"])) and info.output_node]
        seen: set[str] = set()
        while wanted:
            node_id = wanted.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            body = output[node_id]
            info = self.nodes[body["class_type"]]
            for name in info.required:
                if name not in body["inputs"]:
                    raise ConversionError(
                        f"{self.execs[node_id].where()}: its required input {name!r} has no value and no link "
                        "(it may come from a muted node, or a bypassed one with no input of its type)"
                    )
            wanted.extend(v[0] for v in body["inputs"].values() if _is_link(v))


_MISSING = object()


def _widget_inputs(info: NodeInfo, entries: Sequence[Mapping[str, Any]]) -> list[tuple[str, InputSpec]]:
    """The node's widgets, in the frontend's order: its inputs of a widget type, and inputs of other types the
    export shows as widgets (a custom node's own widget types)."""
    shown = {e.get("name") for e in entries if e.get("widget")}
    return [
        (name, spec)
        for name, spec in (*info.required.items(), *info.optional.items())
        if not spec.force_input and (spec.type in WIDGET_TYPES or spec.choices is not None or name in shown)
    ]


def _has_control(name: str, spec: InputSpec) -> bool:
    """Whether the frontend puts a control widget after this one: as `/object_info` declares it, and only when it
    does not say, for an INT named like a seed (ComfyUI_frontend's useIntWidget: `control_after_generate ??
    ['seed', 'noise_seed'].includes(name)`)."""
    if spec.control_after_generate is not None:
        return spec.control_after_generate
    return spec.type == "INT" and name in SEED_NAMES


def _fits(a: str, b: str) -> bool:
    """LiteGraph.isValidConnection: equal types, a wildcard, or lists of types (`A,B`) that share one."""
    if not a or not b or a == "*" or b == "*":
        return True
    return bool({t.strip().upper() for t in a.split(",")} & {t.strip().upper() for t in b.split(",")})


def _wrap(value: Any) -> Any:
    return {"__value__": value} if isinstance(value, list) else value


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)
