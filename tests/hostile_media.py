"""Hostile media, generated small: a GIF whose frames decode to gigabytes, a GIF whose comment takes seconds to
parse, an MP3 whose header declares well under a second over minutes of sound. Each is what a hostile ComfyUI (as
a result) or a member (as an attachment) can send; the tests and `bench/hostile_corpus.py` use them."""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

import av
from PIL import Image

from bot.jobs.admission import SOUND_MAX_SECONDS
from bot.media.attachments import AttachmentError, safe_sound, still_image
from bot.media.fit import fit_result
from bot.media.pool import MediaCrashed, MediaTimeout
from bot.settings import LimitSettings
from tests.fakes import media


def many_frames_gif(side: int = 2048, frames: int = 40) -> bytes:
    """`frames` frames of `side` x `side` (one frame encoded, repeated): ~4 KB a frame, `side`**2 * 4 bytes a
    frame decoded as RGBA (40 frames of 2048x2048: 160 KB holding 640 MiB)."""
    buffer = io.BytesIO()
    Image.new("P", (side, side), 1).save(buffer, "GIF")
    data = buffer.getvalue()
    start = data.index(b",")  # the image descriptor: what comes before is the header and the palette
    head, frame = data[:start], data[start:-1]
    return head + frame * frames + b";"


def long_comment_gif(mib: float = 9.5) -> bytes:
    """An 8x8 still GIF with a comment of `mib` MiB in 255-byte blocks (Pillow up to 12 joined them one by one:
    seconds for a few MiB; Pillow 13 reads it at once)."""
    buffer = io.BytesIO()
    Image.new("P", (8, 8), 1).save(buffer, "GIF")
    data = buffer.getvalue()
    start = data.index(b",")
    block = b"\xff" + b"c" * 255
    return data[:start] + b"!\xfe" + block * int(mib * 2**20 / 256) + b"\x00" + data[start:]


def lying_mp3(seconds: float = 120.0) -> bytes:
    """Silence of `seconds` as an 8 kHz MP3 whose LAME "Info" header counts 7 frames (it declares ~0.4 s)."""
    out = io.BytesIO()
    with av.open(out, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=8000)
        assert isinstance(stream, av.audio.stream.AudioStream)
        stream.layout, stream.bit_rate = "mono", 8000
        for _ in range(int(seconds * 8000 / 1152) + 1):
            frame = av.AudioFrame(format="s16", layout="mono", samples=1152)
            frame.planes[0].update(bytes(2304))
            frame.rate = 8000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    data = bytearray(out.getvalue())
    tag = data.index(b"Info")
    assert struct.unpack(">I", data[tag + 4 : tag + 8])[0] & 1  # the frame count is present
    data[tag + 8 : tag + 12] = struct.pack(">I", 7)
    return bytes(data)


def plain_png(side: int = 512) -> bytes:
    """An ordinary image, as a member attaches one."""
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (200, 120, 40)).save(buffer, "PNG")
    return buffer.getvalue()


def bomb_png(side: int = 100_000) -> bytes:
    """A PNG that declares `side` x `side` pixels (past Pillow's bomb guard) and holds almost nothing."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
        + chunk(b"IEND", b"")
    )


def concat_script() -> bytes:
    """An FFmpeg concat script sent as a sound: it would read another file by path."""
    return b"ffconcat version 1.0\nfile '/etc/hostname'\n"


# name: (the file; as what: a "result" re-encoded to fit 20,000 bytes, a "small result" to fit 20, an "attachment"
# (a still image) or a "sound"; its file name; what the bot must make of it)
CASES: dict[str, tuple[Callable[[], bytes], str, str, str]] = {
    "gif-40-frames-2048x2048-as-result": (
        lambda: many_frames_gif(2048, 40),
        "result",
        "long.gif",
        "named: media.too_many_frames",
    ),
    "mp3-declares-0.4-s-holds-120-s-as-result": (
        lambda: lying_mp3(120),
        "result",
        "spoken.flac",
        "named: media.longer_than_declared",
    ),
    "png-bomb-as-result": (bomb_png, "small result", "bomb.png", "named: media.not_attached"),
    "concat-script-as-result": (concat_script, "small result", "voice.flac", "named: media.not_attached"),
    "gif-9.5-mib-comment-as-attachment": (lambda: long_comment_gif(9.5), "attachment", "slow.gif", "accepted"),
    "png-bomb-as-attachment": (bomb_png, "attachment", "bomb.png", "refused: attachment.bomb"),
    "gif-40-frames-as-attachment": (
        lambda: many_frames_gif(2048, 40),
        "attachment",
        "long.gif",
        "refused: attachment.animated",
    ),
    "concat-script-as-sound": (concat_script, "sound", "voice.flac", "refused: attachment.not_sound"),
    "flac-192-khz-as-sound": (lambda: media.sound("flac", seconds=1, rate=192_000), "sound", "bat.flac", "accepted"),
}


RESULT_LIMIT = 20_000  # bytes a result must be made to fit (a hostile file is larger)


def call(kind: str, data: bytes, filename: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The bot's own work on a file, as (function, *arguments) and keywords, with the default limits."""
    if kind.endswith("result"):
        return (fit_result, data, filename, 20 if kind == "small result" else RESULT_LIMIT), {}
    if kind == "sound":
        return (safe_sound, data, filename), {"max_seconds": SOUND_MAX_SECONDS}
    return (still_image, data, filename), {"max_pixels": LimitSettings().attachment_max_pixels}


def outcome(found: Any) -> str:
    """What the bot made of a file, in a few words: accepted, refused (why), named (why), stopped."""
    if isinstance(found, AttachmentError):
        return f"refused: {found.text.key}"
    if isinstance(found, MediaTimeout | MediaCrashed | MemoryError):
        return f"stopped: {type(found).__name__}"
    if isinstance(found, Exception):
        return f"failed: {type(found).__name__}: {str(found)[:60]}"
    note = getattr(found, "note", None)
    if note is not None:
        return f"{'attached' if found.attached else 'named'}: {note.key}"
    return "accepted"
