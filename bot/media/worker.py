"""`python -m bot.media.worker MEMORY`: one media process of the bot's pool (`pool.py`). It caps its own
address space at MEMORY bytes, then runs one call at a time from its standard input and answers on its standard
output: each message is 8 bytes of length and a pickle (a call: the function, its arguments; an answer: "ok" and
the result, or "raised" and the exception). What a call raises goes back as an exception of the bot's own or of
Python's; any other kind is named in a RuntimeError (the bot unpickles nothing else, pool.py)."""

from __future__ import annotations

import pickle
import resource
import sys
from typing import Any, BinaryIO

PRELOADED = ("bot.media.fit", "bot.media.attachments")  # what every call needs, imported once at start


def _sendable(exc: BaseException) -> BaseException:
    module = type(exc).__module__
    if module == "builtins" or module.startswith("bot."):
        return exc
    return RuntimeError(f"{type(exc).__name__}: {exc}")


def _answer(out: BinaryIO, answer: tuple[str, Any]) -> None:
    try:
        payload = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # a result that cannot be pickled: said in words
        payload = pickle.dumps(("raised", RuntimeError(f"{type(exc).__name__}: {exc}")))
    out.write(len(payload).to_bytes(8, "big") + payload)
    out.flush()


def main() -> None:
    memory = int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    for module in PRELOADED:
        __import__(module)
    calls, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing a library prints may mix with the answers
    while True:
        head = calls.read(8)
        if len(head) < 8:
            return  # the bot closed the pool, or is gone
        work, args, kwargs = pickle.loads(calls.read(int.from_bytes(head, "big")))  # (the bot's own call)
        try:
            answer: tuple[str, Any] = ("ok", work(*args, **kwargs))
        except BaseException as exc:
            answer = ("raised", _sendable(exc))
        _answer(out, answer)


if __name__ == "__main__":
    main()
