"""Results within Discord's upload limit, never dropped: an image re-encoded (WebP, then JPEG, stepping quality
down, then smaller), an animation as an animated WebP (every frame kept), a video or a sound re-encoded with
PyAV (`video_sound.py`); what cannot be made to fit is named with its size and the limit instead."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePath

from PIL import Image, ImageSequence, UnidentifiedImageError

from bot.i18n import Text

from .video_sound import AUDIO_SUFFIXES, VIDEO_SUFFIXES, LongerThanDeclared, Unreadable, fit_audio, fit_video

QUALITIES = (90, 80, 70, 60, 50, 40)
# pixels times frames of an animation the bot re-encodes: 2**27 is 512 MiB of RGBA frames, a 4-second 1024x1024
# animation at 30 fps (what image and video models make is far below); past it the file is named, not decoded
MAX_FRAME_PIXELS = 2**27


@dataclass(frozen=True, slots=True)
class FittedResult:
    data: bytes
    filename: str
    original_size: int
    note: Text | None = None  # what was done to fit, for the embed ("re-encoded as WebP (quality 80) to fit 10 MiB")
    attached: bool = True  # False: not an image the bot can re-encode, and too large to attach; named instead

    @property
    def reencoded(self) -> bool:
        return self.note is not None


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size % 2**20 else f"{size // 2**20} MiB"


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG" and image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    if fmt == "WEBP":
        image.save(buffer, fmt, quality=quality, method=4)
    else:
        image.save(buffer, fmt, quality=quality)
    return buffer.getvalue()


def unfitted(data: bytes, filename: str, limit: int) -> FittedResult:
    """A result the bot cannot make fit: named, with its size and the limit, and left on the ComfyUI server."""
    note = Text("media.not_attached", name=filename, size=_mib(len(data)), limit=_mib(limit))
    return FittedResult(b"", filename, len(data), note, attached=False)


def fit_result(data: bytes, filename: str, limit: int) -> FittedResult:
    """The file as it is when it fits `limit` bytes; otherwise the best re-encoding that fits (by its kind)."""
    if len(data) <= limit:
        return FittedResult(data, filename, len(data))
    path = PurePath(filename)
    stem, suffix = path.stem or "result", path.suffix.lower()
    if suffix in VIDEO_SUFFIXES or suffix in AUDIO_SUFFIXES:
        video = suffix in VIDEO_SUFFIXES
        try:
            encoded = fit_video(data, limit) if video else fit_audio(data, limit)
        except Unreadable:
            return unfitted(data, filename, limit)
        except LongerThanDeclared as exc:
            sizes = {"size": _mib(len(data)), "limit": _mib(limit)}
            note = Text("media.longer_than_declared", name=filename, declared=f"{exc.declared:.1f}", **sizes)
            return FittedResult(b"", filename, len(data), note, attached=False)
        if encoded is None:
            note = Text("media.cannot_fit", name=filename, size=_mib(len(data)), limit=_mib(limit))
            return FittedResult(b"", filename, len(data), note, attached=False)
        note = Text("media.video" if video else "media.audio", limit=_mib(limit))
        return FittedResult(encoded, f"{stem}.{'mp4' if video else 'mp3'}", len(data), note)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            if getattr(opened, "is_animated", False):
                return _fit_animation(opened, filename, stem, len(data), limit)
            image = opened.copy()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):  # a 3D model, a bomb
        return unfitted(data, filename, limit)
    scale = 1.0
    while True:
        for fmt, extension in (("WEBP", "webp"), ("JPEG", "jpg")):
            for quality in QUALITIES:
                encoded = _encode(image, fmt, quality)
                if len(encoded) <= limit:
                    size = f"{image.width}x{image.height}"
                    key = "media.scaled" if scale < 1 else "media.reencoded"
                    note = Text(key, format=fmt.title(), quality=quality, size=size, limit=_mib(limit))
                    return FittedResult(encoded, f"{stem}.{extension}", len(data), note)
        scale *= 0.75
        image = image.resize(
            (max(1, int(image.width * 0.75)), max(1, int(image.height * 0.75))), Image.Resampling.LANCZOS
        )


def _fit_animation(opened: Image.Image, name: str, stem: str, size: int, limit: int) -> FittedResult:
    """An animated WebP, PNG or GIF as an animated WebP that fits: every frame and its timing kept, quality
    stepped down, then every frame made smaller. Its pixels times its frames are bounded before anything is
    decoded (an 11 MiB GIF may hold gigabytes of frames), and the first tries read the file frame by frame."""
    count = int(getattr(opened, "n_frames", 1))
    if count * opened.width * opened.height > MAX_FRAME_PIXELS:
        shape = f"{opened.width}x{opened.height}"
        note = Text("media.too_many_frames", name=name, size=_mib(size), frames=count, side=shape, limit=_mib(limit))
        return FittedResult(b"", name, size, note, attached=False)
    durations = [
        int(frame.info.get("duration", opened.info.get("duration", 100)) or 100)
        for frame in ImageSequence.Iterator(opened)
    ]
    duration: int | list[int] = durations[0] if len(set(durations)) == 1 else durations
    side = opened.size
    smaller: list[Image.Image] | None = None  # None: read from the file as it is saved
    while True:
        for quality in QUALITIES:
            buffer = io.BytesIO()
            options = {"save_all": True, "duration": duration, "loop": 0, "quality": quality}
            if smaller is None:
                opened.seek(0)
                opened.save(buffer, "WEBP", **options)
            else:
                smaller[0].save(buffer, "WEBP", append_images=smaller[1:], **options)
            if buffer.tell() <= limit:
                shown = f"{side[0]}x{side[1]}"
                note = Text("media.animation", quality=quality, size=shown, frames=count, limit=_mib(limit))
                return FittedResult(buffer.getvalue(), f"{stem}.webp", size, note)
        if side[0] <= 16:
            note = Text("media.cannot_fit", name=f"{stem}.webp", size=_mib(size), limit=_mib(limit))
            return FittedResult(b"", f"{stem}.webp", size, note, attached=False)
        side = (max(1, int(side[0] * 0.75)), max(1, int(side[1] * 0.75)))
        smaller = [
            frame.convert("RGBA").resize(side, Image.Resampling.LANCZOS) for frame in ImageSequence.Iterator(opened)
        ]
