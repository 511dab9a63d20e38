"""Hostile media, generated small: a GIF whose frames decode to gigabytes, a GIF whose comment takes seconds to
parse, an MP3 whose header declares well under a second over minutes of sound. Each is what a hostile ComfyUI (as
a result) or a member (as an attachment) can send; the tests and `bench/hostile_corpus.py` use them."""

from __future__ import annotations

import io
import struct

import av
from PIL import Image


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
    """An 8x8 still GIF with a comment of `mib` MiB in 255-byte blocks (Pillow joins them one by one)."""
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
