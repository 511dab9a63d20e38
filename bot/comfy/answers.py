"""Reading one ComfyUI answer: a status that is an error (4xx, 5xx, a redirect never followed), a body that must
be JSON, the answer to `POST /prompt`, and why a call failed in words a member may read (no server address)."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp

from . import json_text
from .errors import ComfyNotFound, ComfyProtocolError, ComfyRejected, PromptRejected
from .models import SubmitResult, parse_node_errors, parse_rejection_issue, parse_submit


class ServerError(Exception):
    """A 5xx answer, retried like a connection error."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")


# ComfyUI's API never redirects. A redirect is not followed: aiohttp would carry a custom auth header (a proxy's
# token) to whatever host it names (docs.aiohttp.org: client_reference, ClientSession.request allow_redirects).
NO_REDIRECTS: dict[str, Any] = {"allow_redirects": False}


def not_redirected(status: int, what: str) -> None:
    if 300 <= status < 400:
        raise ComfyProtocolError(f"{what} answered with a redirect ({status}); not followed")


def reason(exc: BaseException) -> str:
    """Why a call failed, without the server's address (aiohttp's messages name host and port; a member may
    read this)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorError):  # its own text names host and port: say the errno's
        error = exc.os_error
        if isinstance(error, ssl.SSLError):  # https to a plain-http server, a bad certificate
            return f"cannot connect: SSL/TLS failed ({error.reason or type(error).__name__})"
        return f"cannot connect: {os.strerror(error.errno) if error.errno else type(error).__name__}"
    if isinstance(exc, aiohttp.ClientError):
        return type(exc).__name__
    return str(exc) or type(exc).__name__


def parsed_json(body: bytes, path: str) -> Any:
    if not body:
        return None
    try:
        return json_text.loads(body)
    except ValueError:
        raise ComfyProtocolError(f"{path} answered something that is not JSON") from None


def raise_for_client_error(status: int, method: str, path: str) -> None:
    if status == 404:
        raise ComfyNotFound(f"{method} {path}: not found", status=status)
    if status >= 400:
        raise ComfyRejected(f"{method} {path}: refused ({status})", status=status)


def submit_answer(status: int, raw: bytes, prompt_id: str) -> SubmitResult:
    if status == 400:
        body = parsed_json(raw, "/prompt")
        if not isinstance(body, Mapping) or "error" not in body:
            raise ComfyRejected("POST /prompt: refused (400)", status=400)
        raise PromptRejected(parse_rejection_issue(body["error"]), parse_node_errors(body.get("node_errors")))
    raise_for_client_error(status, "POST", "/prompt")
    result = parse_submit(parsed_json(raw, "/prompt"))
    if result.prompt_id != prompt_id:
        raise ComfyProtocolError(f"/prompt answered prompt id {result.prompt_id}, not the {prompt_id} sent")
    return result
