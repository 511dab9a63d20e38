"""Property and fuzz tests on every boundary that takes outside input: inline flags and option values, workflow
files and manifests, ComfyUI frames and HTTP bodies. Whatever comes in, the answer is a typed value or the
boundary's own clear error (which can be put into words in each language), never a crash or a changed template.
Slash commands and buttons over the wire are fuzzed in tests/test_fuzz_discord.py."""

from __future__ import annotations

import contextlib
import copy
import json
import math
import re
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.comfy import models
from bot.comfy.errors import ComfyProtocolError
from bot.comfy.events import MalformedFrame, parse_binary, parse_text
from bot.i18n import LOCALES, text_of
from bot.jobs.flags import FLAGS, FlagError, parse_aspect, parse_flags
from bot.templates.errors import BindError, TemplateLoadError
from bot.templates.library import load_template
from bot.templates.manifest import parse_manifest
from bot.templates.template import BoundWorkflow, Template
from bot.templates.workflow import Workflow, parse_workflow

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
TEMPLATES = {p.stem: load_template(p) for p in sorted(WORKFLOWS.glob("*.json"))}
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=20,
)
any_value = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=50)
    | st.lists(st.integers(), max_size=3)
)


def said_in_every_language(exc: Exception) -> None:
    for locale in LOCALES:
        assert text_of(exc).render(locale).strip()


@FUZZ
@given(
    st.text(max_size=300)
    | st.lists(st.sampled_from(["--ar", "--seed", "--no", " ", "x", "16:9", "--", "—"])).map("".join)
)
@example("0--ar --ar 0")  # found: `0--ar` is text (a flag starts a word), and `--ar 0` its flag
def test_any_prompt_is_flags_and_text_or_a_clear_flag_error(prompt: str) -> None:
    try:
        parsed = parse_flags(prompt)
    except FlagError as exc:
        said_in_every_language(exc)
        return
    assert not re.search(r"(?:(?<=\s)|^)--[A-Za-z]", parsed.text)  # no flag-like word is left in the text
    for value in parsed.options.values():
        assert value == value.strip() and value
    flag_of = {option: flag for flag, option in reversed(FLAGS.items())}
    again = parse_flags(parsed.text + "".join(f" --{flag_of[o]} {v}" for o, v in parsed.options.items()))
    assert (again.text, again.options) == (parsed.text, parsed.options)  # re-parsing gives the same result


@FUZZ
@given(st.text(max_size=20))
def test_any_aspect_is_a_sane_ratio_or_a_clear_error(value: str) -> None:
    try:
        width, height = parse_aspect(value)
    except FlagError as exc:
        said_in_every_language(exc)
        return
    assert width > 0 and height > 0 and 1 / 4 <= width / height <= 4


@FUZZ
@given(
    st.sampled_from(sorted(TEMPLATES)),
    st.dictionaries(
        st.sampled_from(
            [
                "prompt",
                "negative",
                "seed",
                "steps",
                "cfg",
                "denoise",
                "model",
                "width",
                "height",
                "batch_size",
                "image",
                "bogus",
            ]
        ),
        any_value,
        max_size=6,
    ),
)
def test_binding_any_values_gives_a_graph_or_a_clear_error_and_never_changes_the_template(
    name: str, values: dict[str, Any]
) -> None:
    template: Template = TEMPLATES[name]
    before = copy.deepcopy(template.workflow.copy_graph())
    try:
        bound = template.bind(values)
    except BindError as exc:
        said_in_every_language(exc)
    else:
        assert isinstance(bound, BoundWorkflow)
        json.dumps(bound.graph, allow_nan=False)  # what goes to ComfyUI is plain, finite JSON
        for parameter, value in bound.values.items():
            if isinstance(value, float):
                assert math.isfinite(value), parameter
    assert template.workflow.copy_graph() == before


@FUZZ
@given(st.text(max_size=200) | json_values.map(json.dumps))
def test_any_workflow_file_is_a_workflow_or_a_clear_load_error(text: str) -> None:
    try:
        workflow = parse_workflow("fuzzed.json", text)
    except TemplateLoadError as exc:
        assert str(exc).startswith("fuzzed.json: ")
        return
    assert isinstance(workflow, Workflow)


TOML_LINES = st.sampled_from(
    [
        'name = "x"',
        "nsfw = true",
        'outputs = ["Save Image"]',
        'outputs = ["nope"]',
        "[[parameters]]",
        'name = "prompt"',
        'name = "steps"',
        'type = "text"',
        'type = "int"',
        'type = "nonsense"',
        "min = 5",
        "max = 1",
        "default = 3",
        'default = "x"',
        'targets = [{ title = "Positive", input = "text" }]',
        'targets = [{ node = "3", input = "steps" }]',
        'targets = [{ node = "999", input = "steps" }]',
        'targets = [{ title = "Positive", input = "nope" }]',
        "targets = []",
        "[broken",
        'choices = ["a", "b"]',
        "random = true",
    ]
)


@FUZZ
@given(st.lists(TOML_LINES, max_size=14).map("\n".join) | st.text(max_size=100))
def test_any_manifest_is_a_manifest_or_a_clear_load_error(text: str) -> None:
    workflow = TEMPLATES["txt2img"].workflow
    try:
        manifest = parse_manifest("fuzzed.toml", text, workflow)
    except TemplateLoadError as exc:
        assert str(exc).startswith("fuzzed.toml: ")
        return
    for parameter in manifest.parameters:
        if parameter.min is not None and parameter.max is not None:
            assert parameter.min <= parameter.max


frames = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(
                [
                    "status",
                    "executing",
                    "progress",
                    "executed",
                    "execution_error",
                    "execution_cached",
                    "progress_state",
                    "execution_success",
                    "crystools.monitor",
                ]
            ),
            "data": json_values,
        },
    ).map(json.dumps),
)


@FUZZ
@given(frames)
def test_any_text_frame_is_an_event_nothing_or_malformed(raw: str) -> None:
    with contextlib.suppress(MalformedFrame):
        parse_text(raw)


@FUZZ
@given(
    st.binary(max_size=300)
    | st.integers(0, 5).flatmap(lambda kind: st.binary(max_size=80).map(lambda rest: kind.to_bytes(4, "big") + rest))
)
def test_any_binary_frame_is_a_preview_nothing_or_malformed(raw: bytes) -> None:
    with contextlib.suppress(MalformedFrame):
        parse_binary(raw)


PARSERS = [
    models.parse_submit,
    models.parse_queue,
    models.parse_history,
    models.parse_system_stats,
    models.parse_object_info,
    models.parse_upload,
    models.parse_node_errors,
]


@FUZZ
@given(st.sampled_from(PARSERS), json_values)
def test_any_http_body_is_a_typed_answer_or_a_protocol_error(parse: Any, body: Any) -> None:
    with contextlib.suppress(ComfyProtocolError):
        parse(body)


FIXTURES = Path(__file__).parent / "fixtures"
RECORDED = [
    (models.parse_system_stats, json.loads((FIXTURES / "system_stats.json").read_text())),
    (models.parse_object_info, json.loads((FIXTURES / "object_info_recorded.json").read_text())),
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(range(len(RECORDED))), st.data())
def test_recorded_bodies_with_wrong_types_here_and_there_parse_or_fail_clearly(index: int, data: st.DataObject) -> None:
    parse, body = RECORDED[index]
    with contextlib.suppress(ComfyProtocolError):
        parse(_mutate(body, data))


def _mutate(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """The same shape with, here and there, a value of the wrong type or a part missing."""
    if depth < 5 and isinstance(value, dict):
        kept = {k: v for k, v in list(value.items())[:8] if data.draw(st.integers(0, 9)) > 0}
        return {k: _mutate(v, data, depth + 1) for k, v in kept.items()}
    if depth < 5 and isinstance(value, list):
        return [_mutate(v, data, depth + 1) for v in value[:4]]
    return data.draw(st.sampled_from([value, value, value, None, "x", -1, 1.5, [], {}]))
