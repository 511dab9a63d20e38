"""Oversize images are re-encoded under the limit, never dropped."""

from __future__ import annotations

import io
import os

from PIL import Image

from bot.media import fit_image


def noise_png(side: int) -> bytes:
    image = Image.frombytes("RGB", (side, side), os.urandom(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_an_image_that_fits_is_left_alone() -> None:
    data = noise_png(64)
    fitted = fit_image(data, "out.png", 1 << 20)
    assert fitted.data is data and not fitted.reencoded and fitted.filename == "out.png"


def test_an_oversize_image_is_reencoded_under_the_limit() -> None:
    data = noise_png(512)  # ~790 KB of noise: PNG cannot compress it
    fitted = fit_image(data, "out_00001_.png", 300_000)
    assert len(fitted.data) <= 300_000 < len(data)
    assert fitted.filename in ("out_00001_.webp", "out_00001_.jpg")
    assert fitted.note is not None and str(fitted.note).startswith("re-encoded as ")
    assert "to fit 0.3 MiB" in str(fitted.note)
    with Image.open(io.BytesIO(fitted.data)) as image:
        assert image.size == (512, 512)


def test_a_tiny_limit_scales_the_image_down_rather_than_drop_it() -> None:
    fitted = fit_image(noise_png(256), "out.png", 8_000)
    assert len(fitted.data) <= 8_000 and "scaled to" in str(fitted.note)
