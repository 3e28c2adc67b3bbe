"""Quality measures of a detected face: size, pose, brightness, sharpness.

Invariants:
- Measures are computed on the aligned 112x112 crop (the model's own view) where that makes them
  independent of the photo's resolution: brightness and sharpness.
- Yaw is an estimate from the 5 landmarks, in degrees. Positive yaw means the nose points to
  the image's right, which, in an unmirrored camera photo, is the citizen turning to their own
  left. A mirror image flips its sign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

# Nose-tip depth in front of the eye/mouth plane, as a fraction of the inter-ocular distance:
# a face turned by angle a moves the nose by depth*sin(a) while the eyes shrink by cos(a).
NOSE_DEPTH = 0.6


@dataclass(frozen=True)
class QualityLimits:
    """Thresholds of the gates (from settings).

    ``min_interocular_px`` gates live faces (selfies, liveness frames, the counter photo);
    ``reference_min_interocular_px`` gates reference photos (registry, ID card chip), which are
    small by standard: a chip photo is 102x126 px with the eyes 25-30 px apart.
    """

    min_interocular_px: float
    min_sharpness: float
    min_brightness: float
    max_brightness: float
    max_yaw_deg: float
    reference_min_interocular_px: float = 20


def interocular(landmarks: NDArray[np.float32]) -> float:
    """Distance between the eye centres, in image pixels."""
    return float(np.linalg.norm(landmarks[1] - landmarks[0]))


def estimate_yaw(landmarks: NDArray[np.float32]) -> float:
    """Yaw in degrees from 5 landmarks, robust to in-plane roll."""
    left_eye, right_eye, nose, left_mouth, right_mouth = (p.astype(np.float64) for p in landmarks)
    axis = right_eye - left_eye
    distance = float(np.linalg.norm(axis))
    if distance < 1e-6:
        return 0.0
    axis /= distance
    eye_mid = (left_eye + right_eye) / 2
    mouth_mid = (left_mouth + right_mouth) / 2
    normal = np.array([-axis[1], axis[0]])
    # Position of the nose along the eye line, relative to the face midline at the nose's height.
    span = float(np.dot(mouth_mid - eye_mid, normal))
    depth = float(np.dot(nose - eye_mid, normal))
    fraction = depth / span if abs(span) > 1e-6 else 0.0
    midline = eye_mid + fraction * (mouth_mid - eye_mid)
    offset = float(np.dot(nose - midline, axis)) / distance
    return math.degrees(math.atan2(offset, NOSE_DEPTH))


def brightness(aligned: NDArray[np.uint8]) -> float:
    """Mean luminance (0..255) of the central face region of the aligned crop."""
    gray = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY)
    return float(gray[24:100, 24:88].mean())


def sharpness(aligned: NDArray[np.uint8]) -> float:
    """Variance of the Laplacian of the aligned crop; low means blurred."""
    gray = cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())
