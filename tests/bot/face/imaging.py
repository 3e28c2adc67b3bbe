"""Image helpers for the face tests (all in memory)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image

from tests.kit.photos import ROOT

FACE_ROOT = ROOT / ".cache" / "face"


def to_image(data: bytes) -> Image.Image:
    """Decode test bytes with PIL (RGB)."""
    return Image.open(io.BytesIO(data)).convert("RGB")


def to_jpeg(image: Image.Image, **kwargs: Any) -> bytes:
    """Encode as JPEG in memory."""
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=92, **kwargs)
    return buffer.getvalue()


def mirrored(data: bytes) -> bytes:
    """The horizontal mirror image of a photo, as JPEG."""
    return to_jpeg(to_image(data).transpose(Image.Transpose.FLIP_LEFT_RIGHT))


def blank(width: int = 640, height: int = 480, value: int = 128) -> bytes:
    """A uniform grey JPEG."""
    return to_jpeg(Image.fromarray(np.full((height, width, 3), value, np.uint8)))
