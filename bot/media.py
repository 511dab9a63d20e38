"""Images within Discord's upload limit: re-encoded (WebP, then JPEG, stepping quality down, then smaller),
never dropped."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePath

from PIL import Image, UnidentifiedImageError

from bot.i18n import Text

QUALITIES = (90, 80, 70, 60, 50, 40)


@dataclass(frozen=True, slots=True)
class FittedImage:
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


def fit_image(data: bytes, filename: str, limit: int) -> FittedImage:
    """The image as it is when it fits `limit` bytes; otherwise the best re-encoding that fits."""
    if len(data) <= limit:
        return FittedImage(data, filename, len(data))
    stem = PurePath(filename).stem or "image"
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = opened.copy()
    except (UnidentifiedImageError, OSError, ValueError):  # a video, a text an extension wrote: not re-encoded yet
        note = Text("media.not_attached", name=filename, size=_mib(len(data)), limit=_mib(limit))
        return FittedImage(b"", filename, len(data), note, attached=False)
    scale = 1.0
    while True:
        for fmt, extension in (("WEBP", "webp"), ("JPEG", "jpg")):
            for quality in QUALITIES:
                encoded = _encode(image, fmt, quality)
                if len(encoded) <= limit:
                    size = f"{image.width}x{image.height}"
                    key = "media.scaled" if scale < 1 else "media.reencoded"
                    note = Text(key, format=fmt.title(), quality=quality, size=size, limit=_mib(limit))
                    return FittedImage(encoded, f"{stem}.{extension}", len(data), note)
        scale *= 0.75
        image = image.resize(
            (max(1, int(image.width * 0.75)), max(1, int(image.height * 0.75))), Image.Resampling.LANCZOS
        )
