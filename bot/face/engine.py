"""The face engine: decode, detect, gate, align, embed, compare.

Invariants:
- One engine holds the ONNX sessions of one pack; sessions are thread-safe for ``run``, so one
  engine serves every thread of a worker.
- Embeddings are float32 and L2-normalised, so cosine similarity is a dot product.
- The decision threshold is the pack manifest's, never a constant here.
- Gates run in a fixed order and the first failure raises its own :class:`FaceError` code:
  image checks, no face, several faces (selfie), too small, pose, dark/overexposed, blurred.
  "Too small" has two limits: live faces (``selfie``) and reference photos (``reference``:
  registry import, ID card chip, which is 102x126 px by standard).
- Images and crops live only in memory for the duration of the call.
- Photos given as bytes are decoded reduced when large (``DECODE_MIN_SIDE``, see
  ``bot.face.images``); the size gate is judged in the photo's own pixels all the same, and the
  sample's ``quality["interocular_px"]`` is in those pixels (``bbox``/``landmarks`` stay in the
  decoded image's).
- A pack with a ``tasks.antispoof`` model gets ``engine.antispoof`` (see antispoof.py), which
  every liveness frame then passes; without one it is None.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import NDArray

from bot.face import quality
from bot.face.align import norm_crop
from bot.face.antispoof import OnnxAntiSpoof
from bot.face.detectors import Detections, Detector, ScrfdDetector, YuNetDetector
from bot.face.errors import (
    FaceBlurred,
    FaceModelUnavailable,
    FaceMultiple,
    FaceNotFound,
    FaceOverexposed,
    FacePose,
    FaceTooDark,
    FaceTooSmall,
)
from bot.face.images import decode_image_reduced
from bot.face.packs import PackManifest, verify_files
from bot.face.recogniser import OnnxRecogniser

if TYPE_CHECKING:
    import onnxruntime as ort

    from bot.face.liveness import AntiSpoof

log = logging.getLogger(__name__)
Purpose = Literal["selfie", "reference"]
# Large JPEGs are decoded at 1/2, 1/4 or 1/8 size, keeping at least this many pixels on the
# shorter side: detection runs at 320 px and the aligned crop is 112 px, so a face filling a
# tenth of such a photo still has more pixels than the crop needs.
DECODE_MIN_SIDE = 1000
Embedding = NDArray[np.float32]


@dataclass(frozen=True)
class MatchResult:
    """Outcome of comparing two embeddings with the pack's threshold."""

    similarity: float
    threshold: float
    decision: bool
    pack_id: str


@dataclass(frozen=True)
class FaceSample:
    """One analysed face. ``aligned`` is the 112x112 BGR crop (memory only, never stored)."""

    embedding: Embedding
    yaw: float
    bbox: tuple[float, float, float, float]
    landmarks: NDArray[np.float32]
    quality: dict[str, float]
    aligned: NDArray[np.uint8] = field(repr=False)


@dataclass(frozen=True)
class EngineLimits:
    """Image and quality limits of one engine (from settings)."""

    max_bytes: int
    max_pixels: int
    gates: quality.QualityLimits


class FaceEngine:
    """Detector + recogniser of one pack, with the quality gates."""

    def __init__(self, manifest: PackManifest, limits: EngineLimits, threads: int = 1) -> None:
        verify_files(manifest)
        self.manifest = manifest
        self.limits = limits
        # Imported here, not at module level: onnxruntime is not fork-safe (a child forked
        # after the import hangs or aborts at exit), and gunicorn imports the app before forking.
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = max(0, threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Without a memory pattern the arena reuses freed activation blocks run by run: the
        # 640x640 detection then holds ~27 MB instead of ~43 MB, no slower (docs/face.md).
        options.enable_mem_pattern = False
        self.detector = self._detector(manifest, options)
        self.recogniser = self._recogniser(manifest, options)
        self.antispoof: AntiSpoof | None = None
        if manifest.antispoof is not None:
            self.antispoof = OnnxAntiSpoof(manifest, options)

    @staticmethod
    def _detector(manifest: PackManifest, options: ort.SessionOptions) -> Detector:
        """YuNet via our decoder, SCRFD via insightface."""
        det = manifest.detection
        if manifest.detector_kind == "yunet":
            return YuNetDetector(manifest.path / det.file, det.options, options)
        if manifest.detector_kind == "scrfd":
            return ScrfdDetector(manifest.path, det.options, options)
        raise FaceModelUnavailable(f"unknown detector decoder {manifest.detector_kind!r}")

    @staticmethod
    def _recogniser(manifest: PackManifest, options: ort.SessionOptions) -> OnnxRecogniser:
        """The recognition model, PRelu rewritten (see recogniser.py), preprocessing from the
        manifest."""
        rec = manifest.recognition
        return OnnxRecogniser(manifest.path / rec.file, options, mean=rec.mean, std=rec.std)

    @property
    def pack_id(self) -> str:
        """The loaded pack's id."""
        return self.manifest.pack_id

    @property
    def threshold(self) -> float:
        """The pack's cosine-similarity decision threshold."""
        return self.manifest.threshold

    def detect(self, image: NDArray[np.uint8]) -> Detections:
        """Every face in a BGR image: ``(bboxes[N,5], kpss[N,5,2])``."""
        return self.detector.detect(image)

    def embed(self, image: NDArray[np.uint8], landmarks: NDArray[np.float32]) -> Embedding:
        """Align (``bot.face.align.norm_crop``) and embed; returns the L2-normalised embedding."""
        return self._embed_aligned(self.align(image, landmarks))

    def align(self, image: NDArray[np.uint8], landmarks: NDArray[np.float32]) -> NDArray[np.uint8]:
        """The 112x112 crop insightface's ArcFace template expects (see bot.face.align)."""
        return norm_crop(image, landmarks, self.manifest.recognition.input_size[0])

    def _embed_aligned(self, aligned: NDArray[np.uint8]) -> Embedding:
        """Run the recogniser on an aligned crop."""
        raw = self.recogniser.features(aligned)
        norm = float(np.linalg.norm(raw))
        if not np.isfinite(norm) or norm < 1e-6:
            raise FaceNotFound("No usable face was found in the photo.")
        return (raw / norm).astype(np.float32)

    def analyse(
        self, image_bytes: bytes, *, purpose: Purpose, max_yaw_deg: float | None = None
    ) -> FaceSample:
        """Decode, gate and embed the face of a photo; raises a :class:`FaceError` subclass."""
        image, scale = decode_image_reduced(
            image_bytes,
            max_bytes=self.limits.max_bytes,
            max_pixels=self.limits.max_pixels,
            min_side=DECODE_MIN_SIDE,
        )
        return self.analyse_array(image, purpose=purpose, max_yaw_deg=max_yaw_deg, scale=scale)

    def _choose_face(
        self,
        bboxes: NDArray[np.float32],
        kpss: NDArray[np.float32],
        purpose: Purpose,
        scale: float = 1.0,
    ) -> int:
        """Index of the face to use; selfies must show exactly one (ignoring specks)."""
        if len(bboxes) == 0:
            raise FaceNotFound("No face was found in the photo.")
        sizes = [quality.interocular(k) * scale for k in kpss]
        largest = int(np.argmax(sizes))
        floor = max(self.limits.gates.min_interocular_px / 2, sizes[largest] / 4)  # selfies only
        if purpose == "selfie" and sum(size >= floor for size in sizes) > 1:
            raise FaceMultiple("More than one face is in the selfie.")
        return largest

    def analyse_array(
        self,
        image: NDArray[np.uint8],
        *,
        purpose: Purpose,
        max_yaw_deg: float | None = None,
        scale: float = 1.0,
        detections: Detections | None = None,
    ) -> FaceSample:
        """As :meth:`analyse`, on an already decoded BGR image (``scale``: original pixels per
        pixel of ``image``, when it was decoded reduced; ``detections``: this engine's
        :meth:`detect` of ``image`` when the caller already ran it)."""
        gates = self.limits.gates
        bboxes, kpss = self.detect(image) if detections is None else detections
        index = self._choose_face(bboxes, kpss, purpose, scale)
        landmarks = kpss[index]
        eyes = quality.interocular(landmarks) * scale
        smallest = (
            gates.reference_min_interocular_px
            if purpose == "reference"
            else gates.min_interocular_px
        )
        if eyes < smallest:
            raise FaceTooSmall("The face is too small; move closer to the camera.")
        yaw = quality.estimate_yaw(landmarks)
        limit = gates.max_yaw_deg if max_yaw_deg is None else max_yaw_deg
        if abs(yaw) > limit:
            raise FacePose("Look straight at the camera.")
        aligned = self.align(image, landmarks)
        light = quality.brightness(aligned)
        if light < gates.min_brightness:
            raise FaceTooDark("The face is too dark; find more light.")
        if light > gates.max_brightness:
            raise FaceOverexposed("The face is overexposed; avoid direct light.")
        sharp = quality.sharpness(aligned)
        if sharp < gates.min_sharpness:
            raise FaceBlurred("The face is blurred; hold the camera still.")
        x1, y1, x2, y2, score = (float(v) for v in bboxes[index])
        return FaceSample(
            embedding=self._embed_aligned(aligned),
            yaw=yaw,
            bbox=(x1, y1, x2, y2),
            landmarks=landmarks,
            quality={
                "detector_score": score,
                "interocular_px": eyes,
                "yaw_deg": yaw,
                "brightness": light,
                "sharpness": sharp,
            },
            aligned=aligned,
        )

    def match(self, a: Embedding, b: Embedding) -> MatchResult:
        """Cosine similarity of two L2-normalised embeddings against the pack threshold."""
        first = np.asarray(a, np.float32).reshape(-1)
        second = np.asarray(b, np.float32).reshape(-1)
        if first.shape != second.shape:
            raise ValueError("embeddings come from different models")
        norms = float(np.linalg.norm(first) * np.linalg.norm(second))
        similarity = float(np.dot(first, second)) / norms if norms > 0 else 0.0
        return MatchResult(
            similarity=similarity,
            threshold=self.threshold,
            decision=similarity >= self.threshold,
            pack_id=self.pack_id,
        )
