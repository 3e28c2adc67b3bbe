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
- RGB and greyscale JPEGs are decoded by OpenCV (``cv2.imdecode``, EXIF orientation applied,
  ``IMREAD_REDUCED_*`` for the reduction): the same libjpeg-turbo decode as PIL's, bit for bit
  on the sample photos, every orientation and the 1/2 reduction (tests/bot/face/test_images.py),
  at about half the time. Other formats and modes (PNG, WebP, CMYK JPEG) go through PIL.
"""

from __future__ import annotations

import io
import struct
import warnings

import cv2
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


def _reduction(width: int, height: int, min_side: int) -> int:
    """The largest JPEG reduction (1, 2, 4 or 8) that keeps the shorter side at least
    ``min_side``; 1 when none fits or ``min_side`` is 0."""
    factor = 1
    while min_side > 0 and factor < 8 and min(width, height) // (factor * 2) >= min_side:
        factor *= 2
    return factor


def _draft_size(width: int, height: int, min_side: int) -> tuple[int, int] | None:
    """The size to ask PIL's JPEG decoder for (see :func:`_reduction`); None for full size."""
    factor = _reduction(width, height, min_side)
    return None if factor == 1 else (width // factor, height // factor)


_CV_FLAGS = {
    1: cv2.IMREAD_COLOR,
    2: cv2.IMREAD_REDUCED_COLOR_2,
    4: cv2.IMREAD_REDUCED_COLOR_4,
    8: cv2.IMREAD_REDUCED_COLOR_8,
}


def _opencv_jpeg(
    data: bytes, width: int, height: int, factor: int
) -> tuple[NDArray[np.uint8], float]:
    """Decode a checked RGB/greyscale JPEG with OpenCV, reduced by ``factor``, upright; BGR."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), _CV_FLAGS[factor])
    if bgr is None or bgr.ndim != 3:
        raise ImageInvalid("The photo could not be decoded.")
    # libjpeg scales to ceil(side / factor); an EXIF rotation by 90 degrees swaps the sides.
    upright = bgr.shape[:2] == (-(-height // factor), -(-width // factor))
    return np.asarray(bgr, np.uint8), width / (bgr.shape[1] if upright else bgr.shape[0])


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
                if image_format == "JPEG" and image.mode in ("RGB", "L"):
                    factor = _reduction(width, height, min_side)
                    bgr, scale = _opencv_jpeg(data, width, height, factor)
                    return _checked(bgr), scale
                target = _draft_size(width, height, min_side) if image_format == "JPEG" else None
                if target is not None:
                    image.draft("RGB", target)
                image.load()
                scale = width / image.size[0]
                upright = ImageOps.exif_transpose(image)
                rgb = np.asarray(upright.convert("RGB"), dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooManyPixels("The photo has too many pixels.") from exc
    except (OSError, ValueError, SyntaxError, struct.error, EOFError, cv2.error) as exc:
        raise ImageInvalid("The photo could not be decoded.") from exc
    return _checked(np.ascontiguousarray(rgb[:, :, ::-1])), scale


def _checked(bgr: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """``bgr`` when it is a colour image large enough to hold a face."""
    if bgr.ndim != 3 or min(bgr.shape[:2]) < 32:
        raise ImageInvalid("The photo is too small to contain a face.")
    return bgr
