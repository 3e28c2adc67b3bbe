"""Safe decoding of uploaded photos into BGR arrays, in memory only.

Invariants:
- Bytes are never written to disk; everything happens on an in-memory buffer.
- Order of checks: byte limit, format allowlist (JPEG, PNG, WebP) by magic bytes, pixel count
  from the header (before any pixel is decoded), container integrity (nothing appended after the
  image's end marker: rejects truncated files and polyglots), then full decode.
- EXIF orientation is applied, so a phone photo taken sideways is analysed upright.
- :func:`decode_image_reduced` may let the JPEG decoder scale a large photo down by 2, 4 or 8
  while decoding (PIL ``draft``), never below ``min_side`` pixels on the shorter side, and says
  by how much (``scale`` = original pixels per decoded pixel), so size gates can still be judged
  in the photo's own pixels. Every check above runs before, on the full header.
"""

from __future__ import annotations

import io
import struct
import warnings

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from bot.face.errors import ImageInvalid, ImageTooLarge, ImageTooManyPixels

_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
}
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_TRAILING_SLACK = b"\x00\r\n "


def sniff_format(data: bytes) -> str:
    """The format named by the file's magic bytes, or raise ``image_invalid``."""
    for magic, name in _MAGIC.items():
        if data.startswith(magic):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    raise ImageInvalid("Send a JPEG, PNG or WebP photo.")


def check_container(data: bytes, image_format: str) -> None:
    """Reject truncated files and anything appended after the image (polyglots)."""
    body = data.rstrip(_TRAILING_SLACK) if image_format == "JPEG" else data
    if image_format == "JPEG" and not body.endswith(b"\xff\xd9"):
        raise ImageInvalid("The JPEG is truncated or carries extra data after the image.")
    if image_format == "PNG" and not data.endswith(_PNG_END):
        raise ImageInvalid("The PNG is truncated or carries extra data after the image.")
    if image_format == "WEBP":
        (declared,) = struct.unpack("<I", data[4:8])
        if declared + 8 != len(data):
            raise ImageInvalid("The WebP is truncated or carries extra data after the image.")


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> NDArray[np.uint8]:
    """Validate and decode ``data`` into an upright BGR ``uint8`` array, at full size."""
    return decode_image_reduced(data, max_bytes=max_bytes, max_pixels=max_pixels, min_side=0)[0]


def _draft_size(width: int, height: int, min_side: int) -> tuple[int, int] | None:
    """The size to ask the JPEG decoder for: the largest 1/2, 1/4 or 1/8 reduction that keeps
    the shorter side at least ``min_side``; None when no reduction fits."""
    if min_side <= 0:
        return None
    factor = 1
    while factor < 8 and min(width, height) // (factor * 2) >= min_side:
        factor *= 2
    return None if factor == 1 else (width // factor, height // factor)


def decode_image_reduced(
    data: bytes, *, max_bytes: int, max_pixels: int, min_side: int
) -> tuple[NDArray[np.uint8], float]:
    """Validate and decode ``data`` into an upright BGR ``uint8`` array, a large JPEG reduced
    while decoding (see the module invariants); returns the array and its ``scale``."""
    if len(data) > max_bytes:
        raise ImageTooLarge(f"The photo is larger than {max_bytes // 1024} KiB.")
    image_format = sniff_format(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[image_format]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageTooManyPixels(f"The photo has more than {max_pixels} pixels.")
                check_container(data, image_format)
                target = _draft_size(width, height, min_side) if image_format == "JPEG" else None
                if target is not None:
                    image.draft("RGB", target)
                image.load()
                scale = width / image.size[0]
                upright = ImageOps.exif_transpose(image)
                rgb = np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooManyPixels("The photo has too many pixels.") from exc
    except (OSError, ValueError, SyntaxError, struct.error, EOFError) as exc:
        raise ImageInvalid("The photo could not be decoded.") from exc
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 32:
        raise ImageInvalid("The photo is too small to contain a face.")
    return np.ascontiguousarray(rgb[:, :, ::-1]), scale
