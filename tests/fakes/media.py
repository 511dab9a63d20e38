"""Video and sound files as ComfyUI's Save nodes write them (made with PyAV, as ComfyUI does): an MP4 of H.264
with AAC sound, a FLAC, an MP3. `noise` makes a picture or a sound that does not compress, for files over a
limit. Deterministic: the same arguments give the same bytes."""

from __future__ import annotations

import io
import math
import random
from fractions import Fraction

import av


def mp4(*, seconds: float = 1.0, side: int = 64, fps: int = 8, noise: bool = False, sound: bool = True) -> bytes:
    out = io.BytesIO()
    rng = random.Random(side * 1000 + fps)
    with av.open(out, "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = side
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "1" if noise else "23"}
        audio = container.add_stream("aac", rate=44_100) if sound else None
        if audio is not None:
            audio.layout = "mono"
        for index in range(max(1, int(seconds * fps))):
            frame = av.VideoFrame(side, side, "rgb24")
            plane = frame.planes[0]
            plane.update(rng.randbytes(plane.buffer_size) if noise else bytes([index * 20 % 256]) * plane.buffer_size)
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            for piece in _tone(seconds, 44_100, noise=noise):
                container.mux(audio.encode(piece))
            container.mux(audio.encode(None))
    return out.getvalue()


def sound(fmt: str = "flac", *, seconds: float = 1.0, noise: bool = False, rate: int = 44_100) -> bytes:
    """A FLAC (`flac`) or an MP3 (`mp3`) of a tone, or of noise."""
    out = io.BytesIO()
    with av.open(out, "w", format=fmt) as container:
        stream = container.add_stream("flac" if fmt == "flac" else "libmp3lame", rate=rate)
        stream.layout = "mono"
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for frame in _tone(seconds, rate, noise=noise):
            for piece in resampler.resample(frame):
                container.mux(stream.encode(piece))
        container.mux(stream.encode(None))
    return out.getvalue()


def _tone(seconds: float, rate: int, *, noise: bool) -> list[av.AudioFrame]:
    rng = random.Random(rate)
    frames, total, size = [], int(seconds * rate), 1024
    for start in range(0, total, size):
        count = min(size, total - start)
        frame = av.AudioFrame(format="s16", layout="mono", samples=count)
        samples = bytearray()
        for n in range(start, start + count):
            value = rng.randint(-20_000, 20_000) if noise else int(8_000 * math.sin(2 * math.pi * 440 * n / rate))
            samples += value.to_bytes(2, "little", signed=True)
        frame.planes[0].update(bytes(samples) + b"\0" * (frame.planes[0].buffer_size - len(samples)))
        frame.sample_rate, frame.pts = rate, start
        frames.append(frame)
    return frames
