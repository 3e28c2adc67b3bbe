"""The ArcFace-template face crop, without importing insightface.

Why: ``insightface.utils.face_align.norm_crop`` was the engine's only use of insightface for
YuNet packs, and importing the package costs ~40 MB of RSS per worker (≈450 modules). This is
the same computation: scikit-image's Umeyama similarity estimate (``SimilarityTransform``
``estimate``, copied operation for operation, same dtypes) and ``cv2.warpAffine``.

Invariants:
- :func:`norm_crop` returns the same pixels as insightface 2.1's ``norm_crop`` for the same
  landmarks, bit for bit (``tests/bot/face/test_align.py`` compares them on real photos).
- Landmarks are in insightface order (see ``bot.face.detectors``); sizes are multiples of 112
  or 128, like insightface's.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

# insightface's arcface_dst: where the 5 landmarks sit in a 112x112 crop.
ARCFACE_DST = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def umeyama(src: NDArray[np.floating], dst: NDArray[np.floating]) -> NDArray[np.float64]:
    """The 3x3 similarity (rotation, uniform scale, translation) taking ``src`` to ``dst`` in
    the least-squares sense; NaNs when the points are degenerate. scikit-image 0.26's
    ``_umeyama(src, dst, estimate_scale=True)``, operation for operation."""
    num, dim = src.shape
    src_mean = src.mean(axis=0)
    dst_mean = dst.mean(axis=0)
    src_demean = src - src_mean
    dst_demean = dst - dst_mean
    a = dst_demean.T @ src_demean / num
    d = np.ones((dim,), dtype=np.float64)
    if np.linalg.det(a) < 0:
        d[dim - 1] = -1
    transform = np.eye(dim + 1, dtype=np.float64)
    u, s, v = np.linalg.svd(a)
    tol = s.max() * np.max(a.shape) * np.finfo(float).eps
    rank = np.count_nonzero(s > tol)
    if rank == 0:
        return np.asarray(np.nan * transform, np.float64)
    if rank == dim - 1:
        if np.linalg.det(u) * np.linalg.det(v) > 0:
            transform[:dim, :dim] = u @ v
        else:
            keep = d[dim - 1]
            d[dim - 1] = -1
            transform[:dim, :dim] = u @ np.diag(d) @ v
            d[dim - 1] = keep
    else:
        transform[:dim, :dim] = u @ np.diag(d) @ v
    scale = 1.0 / src_demean.var(axis=0).sum() * (s @ d)
    transform[:dim, dim] = dst_mean - scale * (transform[:dim, :dim] @ src_mean.T)
    transform[:dim, :dim] *= scale
    return transform


def norm_crop(
    image: NDArray[np.uint8], landmarks: NDArray[np.float32], size: int = 112
) -> NDArray[np.uint8]:
    """The ``size`` x ``size`` crop that puts the 5 landmarks on the ArcFace template."""
    if size % 112 == 0:
        ratio, shift = size / 112.0, 0.0
    elif size % 128 == 0:
        ratio = size / 128.0
        shift = 8.0 * ratio
    else:
        raise ValueError(f"crop size {size} is not a multiple of 112 or 128")
    dst = ARCFACE_DST * ratio
    dst[:, 0] += shift
    matrix = umeyama(np.asarray(landmarks), dst)[0:2, :]
    return np.asarray(cv2.warpAffine(image, matrix, (size, size), borderValue=0.0), np.uint8)
