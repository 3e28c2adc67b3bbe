"""Errors of the face engine, one stable code per rejection.

Invariants:
- Every rejection a client can cause is a :class:`FaceError` subclass with its own ``code``;
  codes are API and never change meaning.
- Messages never contain image bytes, embeddings or file paths of user data.
- A broken or missing model pack is :class:`FaceModelUnavailable` (503): the operator's problem,
  never blamed on the client's photo.
"""

from __future__ import annotations

from bot.errors import ServiceUnavailable, WangzhengError


class FaceError(WangzhengError):
    """The photo cannot be used for face verification."""

    code = "face_error"
    status = 422


class ImageInvalid(FaceError):
    """The upload is not a JPEG, PNG or WebP image, or it is damaged."""

    code = "image_invalid"
    status = 400


class ImageTooLarge(FaceError):
    """The image file is larger than allowed."""

    code = "image_too_large"
    status = 413


class ImageTooManyPixels(FaceError):
    """The image has more pixels than allowed (possible decompression bomb)."""

    code = "image_too_many_pixels"
    status = 413


class FaceNotFound(FaceError):
    """No face was found in the image."""

    code = "face_not_found"


class FaceMultiple(FaceError):
    """More than one face is in the selfie; only the citizen may be in the picture."""

    code = "face_multiple"


class FaceTooSmall(FaceError):
    """The face is too small; move closer to the camera."""

    code = "face_too_small"


class FaceBlurred(FaceError):
    """The face is blurred; hold the camera still."""

    code = "face_blurred"


class FaceTooDark(FaceError):
    """The face is too dark; find more light."""

    code = "face_too_dark"


class FaceOverexposed(FaceError):
    """The face is overexposed; avoid direct light."""

    code = "face_overexposed"


class FacePose(FaceError):
    """The face is turned too far from the camera; look straight at it."""

    code = "face_pose"


class LivenessFailed(FaceError):
    """The liveness check failed; start a new challenge."""

    code = "liveness_failed"


class PresentationAttackSuspected(FaceError):
    """The pack's passive presentation-attack detector scored a frame below its threshold."""

    code = "presentation_attack_suspected"


class ChallengeInvalid(FaceError):
    """The liveness challenge is unknown, expired or already used; request a new one."""

    code = "liveness_challenge_invalid"
    status = 400


class FaceModelUnavailable(ServiceUnavailable):
    """The face model pack is missing or damaged."""

    code = "face_model_unavailable"
