"""The one exception tree of the ComfyUI client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


class ComfyError(Exception):
    """Anything that went wrong talking to a ComfyUI server."""


class ComfyUnavailable(ComfyError):
    """The server could not be reached, timed out, or answered 5xx (after any retries)."""


class ComfyProtocolError(ComfyError):
    """The server answered something that does not have the shape ComfyUI's protocol gives it."""


class ComfyRejected(ComfyError):
    """The server understood the request and refused it (a 4xx)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class ComfyNotFound(ComfyRejected):
    """A file or route that does not exist (404)."""


@dataclass(frozen=True, slots=True)
class ValidationIssue:
    """One entry of ComfyUI's error lists: `{"type", "message", "details", "extra_info"}`."""

    type: str
    message: str
    details: str = ""
    input_name: str | None = None


@dataclass(frozen=True, slots=True)
class NodeRejection:
    """Why ComfyUI refused one node of a submitted graph."""

    node_id: str
    class_type: str
    errors: tuple[ValidationIssue, ...]
    dependent_outputs: tuple[str, ...] = ()

    def summary(self) -> str:
        reasons = "; ".join(
            f"{issue.message}: {issue.details}" if issue.details else issue.message for issue in self.errors
        )
        return f"node {self.node_id} ({self.class_type}): {reasons}"


class PromptRejected(ComfyRejected):
    """`POST /prompt` answered 400: the graph was not queued. Carries ComfyUI's reason and per-node errors."""

    def __init__(
        self,
        error: ValidationIssue,
        node_errors: Mapping[str, NodeRejection],
    ) -> None:
        self.error = error
        self.node_errors = dict(node_errors)
        lines = [f"{error.message}" + (f" ({error.details})" if error.details else "")]
        lines.extend(node.summary() for node in self.node_errors.values())
        super().__init__("\n".join(lines), status=400)
