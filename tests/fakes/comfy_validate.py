"""Prompt validation of the fake ComfyUI, with the error shapes and messages of the recorded server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Json = dict[str, Any]


@dataclass
class Validated:
    outputs: list[str]  # output node ids that will run
    node_errors: Json = field(default_factory=dict)  # dropped branches (a 200 can carry them)


@dataclass
class Rejected:
    body: Json


def _error(kind: str, message: str, details: str = "") -> Json:
    return {"type": kind, "message": message, "details": details, "extra_info": {}}


def _rejected(kind: str, message: str, details: str = "", node_errors: Json | None = None) -> Rejected:
    return Rejected({"error": _error(kind, message, details), "node_errors": node_errors or {}})


def _issue(kind: str, message: str, details: str, name: str, **extra: Any) -> Json:
    return {"type": kind, "message": message, "details": details, "extra_info": {"input_name": name, **extra}}


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


class PromptValidator:
    def __init__(self, object_info: Json, input_files: set[str]) -> None:
        self.object_info = object_info
        self.input_files = input_files

    def validate(self, prompt: Any) -> Validated | Rejected:
        if not isinstance(prompt, dict) or not prompt:
            return _rejected("prompt_no_outputs", "Prompt has no outputs")
        for node_id, node in prompt.items():
            if not isinstance(node, dict) or "class_type" not in node:
                return _rejected(
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{node_id}'",
                )
            if node["class_type"] not in self.object_info:
                return _rejected(
                    "invalid_prompt",
                    f"Cannot execute because node {node['class_type']} does not exist.",
                    f"Node ID '#{node_id}'",
                )
        outputs = [nid for nid, node in prompt.items() if self.object_info[node["class_type"]].get("output_node")]
        if not outputs:
            return _rejected("prompt_no_outputs", "Prompt has no outputs")
        errors: dict[str, list[Json]] = {}
        good: list[str] = []
        node_errors: Json = {}
        for output in outputs:
            failing = self._check_tree(prompt, output, errors, set())
            if not failing:
                good.append(output)
            for node_id in dict.fromkeys(failing):
                if errors.get(node_id):
                    entry = node_errors.setdefault(
                        node_id,
                        {
                            "errors": errors[node_id],
                            "dependent_outputs": [],
                            "class_type": prompt[node_id]["class_type"],
                        },
                    )
                    entry["dependent_outputs"].append(output)
        if not good:
            return _rejected("prompt_outputs_failed_validation", "Prompt outputs failed validation", "", node_errors)
        return Validated(good, node_errors)

    def _check_tree(self, prompt: Json, node_id: str, errors: dict[str, list[Json]], seen: set[str]) -> list[str]:
        """The ids of invalid nodes in the tree under `node_id` (errors recorded once per node)."""
        if node_id in seen:  # reached again through another link of the same output
            return []
        seen.add(node_id)
        node = prompt[node_id]
        info = self.object_info[node["class_type"]]
        inputs = node.get("inputs") or {}
        issues = errors.setdefault(node_id, []) if node_id not in errors else None
        failing: list[str] = []
        for name, spec in (info.get("input", {}).get("required") or {}).items():
            if name not in inputs:
                if issues is not None:
                    issues.append(_issue("required_input_missing", "Required input is missing", name, name))
                continue
            value = inputs[name]
            if _is_link(value):
                failing += self._check_link(prompt, node_id, name, spec, value, errors, seen, issues)
            elif issues is not None:
                issues.extend(self._check_value(node["class_type"], name, spec, value))
        if errors.get(node_id):
            failing.append(node_id)
        return failing

    def _check_link(
        self,
        prompt: Json,
        node_id: str,
        name: str,
        spec: list[Any],
        link: list[Any],
        errors: dict[str, list[Json]],
        seen: set[str],
        issues: list[Json] | None,
    ) -> list[str]:
        source, index = link
        if source not in prompt:
            if issues is not None:
                issues.append(
                    _issue(
                        "exception_during_inner_validation",
                        "Exception when validating inner node",
                        f"'{source}'",
                        name,
                        exception_message=f"'{source}'",
                        exception_type="KeyError",
                    )
                )
            return []
        produced = self.object_info[prompt[source]["class_type"]].get("output") or []
        wanted = spec[0] if spec else "*"
        received = produced[index] if index < len(produced) else None
        if isinstance(wanted, str) and received is not None and wanted != received and "*" not in (wanted, received):
            if issues is not None:
                issues.append(
                    _issue(
                        "return_type_mismatch",
                        "Return type mismatch between linked nodes",
                        f"{name}, received_type({received}) mismatch input_type({wanted})",
                        name,
                        received_type=received,
                        linked_node=link,
                    )
                )
            return []
        return self._check_tree(prompt, source, errors, seen)

    def _check_value(self, class_type: str, name: str, spec: list[Any], value: Any) -> list[Json]:
        kind = spec[0] if spec else "*"
        options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        if isinstance(kind, list):
            if (class_type, name) in (("LoadImage", "image"), ("LoadAudio", "audio")):  # any file in input/
                if value not in self.input_files:
                    return [
                        {
                            "type": "custom_validation_failed",
                            "message": "Custom validation failed for node",
                            "details": f"{name} - Invalid {name} file: {value}",
                            "extra_info": {"input_name": name},
                        }
                    ]
                return []
            if value in kind:
                return []
            shown = f"(list of length {len(kind)})" if len(kind) > 8 else repr(kind)
            return [
                _issue(
                    "value_not_in_list",
                    "Value not in list",
                    f"{name}: '{value}' not in {shown}",
                    name,
                    input_config=None if len(kind) > 8 else spec,
                    received_value=value,
                )
            ]
        if kind not in ("INT", "FLOAT"):
            return []
        try:
            number = int(value) if kind == "INT" else float(value)
        except (TypeError, ValueError) as exc:
            return [
                _issue(
                    "invalid_input_type",
                    f"Failed to convert an input value to a {kind} value",
                    f"{name}, {value}, {exc}",
                    name,
                    input_config=spec,
                    received_value=value,
                    exception_message=str(exc),
                )
            ]
        found = []
        if "min" in options and number < options["min"]:
            message = f"Value {number} smaller than min of {options['min']}"
            found.append(
                _issue("value_smaller_than_min", message, name, name, input_config=spec, received_value=number)
            )
        if "max" in options and number > options["max"]:
            message = f"Value {number} bigger than max of {options['max']}"
            found.append(_issue("value_bigger_than_max", message, name, name, input_config=spec, received_value=number))
        return found
