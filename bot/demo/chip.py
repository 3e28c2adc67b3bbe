"""Demo ID card chip photos: a sample photo framed and scaled as a card chip stores it.

A second-generation ID card stores a 102 x 126 pixel head-and-shoulders photo with the eyes
about 25-30 px apart. :func:`chip_photo` makes one from any photo with a face, for the terminal
simulator, the tests and the chip-size measurement (``bench/chip_similarity.py``). Development
and test use only.
"""

from __future__ import annotations

import cv2
import numpy as np

from bot.face.engine import FaceEngine
from bot.face.images import decode_image

CHIP_SIZE = (102, 126)
# Crop width as a multiple of the detected face box width: head and a little shoulder, as on
# the card; the face's centre sits a little above the crop's middle.
FRAME_WIDTH = 1.6
FACE_CENTRE_Y = 0.45


def chip_photo(engine: FaceEngine, photo: bytes, *, quality: int = 90) -> bytes:
    """A 102 x 126 JPEG framed like an ID card chip photo around the largest face."""
    image = decode_image(
        photo, max_bytes=engine.limits.max_bytes, max_pixels=engine.limits.max_pixels
    )
    bboxes, _ = engine.detect(image)
    if len(bboxes) == 0:
        raise ValueError("no face to frame")
    x1, y1, x2, y2 = (float(v) for v in bboxes[int(np.argmax(bboxes[:, 2] - bboxes[:, 0]))][:4])
    width = (x2 - x1) * FRAME_WIDTH
    height = width * CHIP_SIZE[1] / CHIP_SIZE[0]
    left = int(max(0.0, (x1 + x2) / 2 - width / 2))
    top = int(max(0.0, (y1 + y2) / 2 - height * FACE_CENTRE_Y))
    crop = image[
        top : int(min(image.shape[0], top + height)), left : int(min(image.shape[1], left + width))
    ]
    small = cv2.resize(crop, CHIP_SIZE, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode the chip photo")
    return bytes(encoded.tobytes())
