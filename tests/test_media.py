"""Oversize results are re-encoded under the limit, never dropped: images, animations, videos, sounds."""

from __future__ import annotations

import io
import os
import random

import av
from PIL import Image

from bot.media.fit import fit_result
from tests.fakes import media


def noise_png(side: int) -> bytes:
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_an_image_that_fits_is_left_alone() -> None:
    data = noise_png(64)
    fitted = fit_result(data, "out.png", 1 << 20)
    assert fitted.data is data and not fitted.reencoded and fitted.filename == "out.png"


def test_an_oversize_image_is_reencoded_under_the_limit() -> None:
    data = noise_png(512)  # ~790 KB of noise: PNG cannot compress it
    fitted = fit_result(data, "out_00001_.png", 300_000)
    assert len(fitted.data) <= 300_000 < len(data)
    assert fitted.filename in ("out_00001_.webp", "out_00001_.jpg")
    assert fitted.note is not None and str(fitted.note).startswith("re-encoded as ")
    assert "to fit 0.3 MiB" in str(fitted.note)
    with Image.open(io.BytesIO(fitted.data)) as image:
        assert image.size == (512, 512)


def test_a_tiny_limit_scales_the_image_down_rather_than_drop_it() -> None:
    fitted = fit_result(noise_png(256), "out.png", 8_000)
    assert len(fitted.data) <= 8_000 and "scaled to" in str(fitted.note)


def test_a_video_over_the_limit_is_re_encoded_to_a_playable_mp4_under_it() -> None:
    data = media.mp4(seconds=2, side=192, fps=12, noise=True)
    assert len(data) > 1_000_000
    fitted = fit_result(data, "clip_00001_.mp4", 250_000)
    assert fitted.attached and len(fitted.data) <= 250_000 and fitted.filename == "clip_00001_.mp4"
    with av.open(io.BytesIO(fitted.data), "r") as video:
        assert [s.type for s in video.streams] == ["video", "audio"]  # its sound kept
        assert video.streams.video[0].codec_context.name == "h264"
        assert sum(1 for _ in video.decode(video=0)) == 24  # every frame
    assert fitted.note is not None and fitted.note.render("en-US") == "re-encoded as an H.264 video to fit 0.2 MiB"


def test_a_sound_over_the_limit_becomes_an_mp3_and_one_that_cannot_fit_is_named() -> None:
    data = media.sound("flac", seconds=6, noise=True)
    fitted = fit_result(data, "voice_00001_.flac", 60_000)
    assert fitted.attached and len(fitted.data) <= 60_000 and fitted.filename == "voice_00001_.mp3"
    with av.open(io.BytesIO(fitted.data), "r") as sound:
        assert sound.streams.audio[0].codec_context.name.startswith("mp3")
        assert 5.5 < (sound.duration or 0) / av.time_base < 6.5
    hopeless = fit_result(data, "voice_00001_.flac", 5_000)
    assert not hopeless.attached and hopeless.note is not None
    assert hopeless.note.render("en-US").startswith("voice_00001_.flac (0.")
    assert "cannot be made to fit 0.0 MiB" in hopeless.note.render("en-US")


def test_an_animation_over_the_limit_stays_animated() -> None:
    frames = [Image.frombytes("RGB", (160, 160), random.Random(n).randbytes(160 * 160 * 3)) for n in range(6)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=125, loop=0, lossless=True)
    fitted = fit_result(buffer.getvalue(), "loop_00001_.webp", 80_000)
    assert fitted.attached and len(fitted.data) <= 80_000
    with Image.open(io.BytesIO(fitted.data)) as shown:
        assert getattr(shown, "n_frames", 1) == 6
