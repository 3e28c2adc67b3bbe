"""Decoding gates: format, size, pixel bombs, truncation, polyglots, EXIF orientation."""

from __future__ import annotations

import io
import struct
import time
import zipfile
import zlib

import numpy as np
import pytest
from PIL import Image

from bot.face.errors import ImageInvalid, ImageTooLarge, ImageTooManyPixels
from bot.face.images import decode_image
from tests.bot.face.imaging import blank, to_image, to_jpeg

LIMITS = {"max_bytes": 5 * 1024 * 1024, "max_pixels": 24_000_000}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(side: int = 8000) -> bytes:
    """A real, valid PNG of side x side black pixels that compresses to a few dozen KiB."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", data)
        + _chunk(b"IEND", b"")
    )


def test_not_an_image() -> None:
    with pytest.raises(ImageInvalid) as caught:
        decode_image(b"hello, I am text", **LIMITS)
    assert caught.value.code == "image_invalid"
    assert caught.value.status == 400


def test_unsupported_format_gif_polyglot() -> None:
    """A GIF/JavaScript polyglot: GIF is not accepted at all."""
    gif = b"GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=alert(1);//" + b"\x00;"
    with pytest.raises(ImageInvalid):
        decode_image(gif, **LIMITS)


def test_jpeg_zip_polyglot_rejected(photos: dict[str, bytes]) -> None:
    """A valid JPEG with a ZIP archive appended (opens as both) is rejected."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("payload.html", "<script>alert(1)</script>")
    polyglot = photos["obama"] + archive.getvalue()
    assert zipfile.is_zipfile(io.BytesIO(polyglot))
    with pytest.raises(ImageInvalid):
        decode_image(polyglot, **LIMITS)


def test_html_prefixed_polyglot_rejected(photos: dict[str, bytes]) -> None:
    with pytest.raises(ImageInvalid):
        decode_image(b"<html><script>alert(1)</script>" + photos["obama"], **LIMITS)


@pytest.mark.parametrize("name", ["obama", "tom_hanks"])
def test_truncated_files_rejected(photos: dict[str, bytes], name: str) -> None:
    data = photos[name]
    with pytest.raises(ImageInvalid):
        decode_image(data[: len(data) * 2 // 3], **LIMITS)


def test_over_byte_limit() -> None:
    with pytest.raises(ImageTooLarge) as caught:
        decode_image(b"\xff\xd8\xff" + b"\x00" * (5 * 1024 * 1024), **LIMITS)
    assert caught.value.code == "image_too_large"
    assert caught.value.status == 413


def test_decompression_bomb_rejected_before_decoding() -> None:
    bomb = png_bomb()
    assert len(bomb) < 200_000  # 64 megapixels in a small file
    started = time.perf_counter()
    with pytest.raises(ImageTooManyPixels) as caught:
        decode_image(bomb, **LIMITS)
    assert time.perf_counter() - started < 0.5  # refused from the header, never inflated
    assert caught.value.code == "image_too_many_pixels"


def test_bomb_beyond_pillow_limit_is_ours_too() -> None:
    """Above PIL's own MAX_IMAGE_PIXELS, PIL's error becomes our stable code."""
    with pytest.raises(ImageTooManyPixels):
        decode_image(png_bomb(14000), max_bytes=LIMITS["max_bytes"], max_pixels=10**12)


def test_exif_orientation_is_applied(photos: dict[str, bytes]) -> None:
    upright = to_image(photos["obama"])
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # sensor orientation
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    decoded = decode_image(to_jpeg(stored, exif=exif), **LIMITS)
    assert decoded.shape[:2] == (upright.height, upright.width)


def test_valid_image_is_bgr() -> None:
    red = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 0, 0)).save(red, "PNG")
    decoded = decode_image(red.getvalue(), **LIMITS)
    assert decoded.dtype == np.uint8
    assert tuple(decoded[0, 0]) == (0, 0, 255)
    assert decode_image(blank(), **LIMITS).shape == (480, 640, 3)
