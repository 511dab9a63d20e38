"""A member's attachment made safe before anything of it reaches ComfyUI: an image must be a still image that
Pillow decodes within a pixel budget (its header is read first, so a small file that declares 50000x50000 is
refused before any decoding), and it goes on as a PNG the bot encoded, never the member's bytes; a sound must be
one FFmpeg (PyAV) decodes, within a length, and it goes on as a FLAC the bot encoded. CPU work: call these in a
worker thread."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import PurePath

import av
from PIL import Image, UnidentifiedImageError

from bot.i18n import LocalizedError
from bot.media.video_sound import TooLong, Unreadable, encode_sound, open_media, sound_stream


class AttachmentError(LocalizedError, ValueError):
    """The attachment cannot be used; the message says why and what to attach instead."""


@dataclass(frozen=True, slots=True)
class StillImage:
    data: bytes  # PNG
    filename: str
    width: int
    height: int


def still_image(data: bytes, filename: str, *, max_pixels: int) -> StillImage:
    stem = PurePath(filename).stem[:60] or "image"
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise AttachmentError("attachment.pixels", width=width, height=height, limit=f"{max_pixels:,}")
            frames = int(getattr(image, "n_frames", 1))
            if frames > 1:
                raise AttachmentError("attachment.animated", frames=frames)
            image.load()
        except AttachmentError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):  # Pillow's guard, at open
            raise AttachmentError("attachment.bomb", limit=f"{max_pixels:,}") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            raise AttachmentError("attachment.not_image") from None
    still: Image.Image = image
    if still.mode not in ("RGB", "RGBA", "L", "LA"):
        still = still.convert("RGBA" if "A" in still.getbands() or still.mode == "P" else "RGB")
    buffer = io.BytesIO()
    still.save(buffer, "PNG")
    return StillImage(buffer.getvalue(), f"{stem}.png", width, height)


def safe_sound(data: bytes, filename: str, *, max_seconds: float) -> tuple[bytes, str]:
    """The sound as a FLAC the bot encoded (its first audio stream, every sample), and its file name."""
    stem = PurePath(filename).stem[:60] or "sound"
    out = io.BytesIO()
    try:
        with open_media(data) as source, av.open(out, "w", format="flac") as target:
            sound = sound_stream(source, target, "flac", any_rate=True)
            if sound is None:
                raise AttachmentError("attachment.not_sound")
            samples = encode_sound(source, target, *sound, max_samples=max_seconds * sound[0].rate)
    except AttachmentError:
        raise
    except TooLong:
        raise AttachmentError("attachment.too_long", limit=f"{max_seconds:g}") from None
    except (av.FFmpegError, ValueError, IndexError, Unreadable):
        raise AttachmentError("attachment.not_sound") from None
    if not samples:
        raise AttachmentError("attachment.not_sound")
    return out.getvalue(), f"{stem}.flac"
