"""Face detectors returning insightface-style ``(bboxes[N,5], kpss[N,5,2])`` in image pixels.

Invariants:
- Input images are BGR ``uint8`` arrays (OpenCV/insightface convention).
- ``bboxes`` rows are ``x1, y1, x2, y2, score``; ``kpss`` hold 5 landmarks in insightface order
  (image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner),
  sorted by score, highest first.
- YuNet has its own output layout (cls/obj/bbox/kps per stride), decoded here; SCRFD packs use
  insightface's own class.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import onnxruntime as ort

Detections = tuple[NDArray[np.float32], NDArray[np.float32]]
STRIDES = (8, 16, 32)


class Detector(Protocol):
    """Finds faces and their 5 landmarks."""

    def detect(self, image: NDArray[np.uint8]) -> Detections:
        """All faces above the pack's score threshold, best first."""
        ...


def _nms(boxes: NDArray[np.float32], scores: NDArray[np.float32], iou: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    order = list(np.argsort(-scores))
    keep: list[int] = []
    while order:
        best = int(order.pop(0))
        keep.append(best)
        rest = np.array(order, dtype=np.int64)
        if rest.size == 0:
            break
        w = (np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest])).clip(0)
        h = (np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest])).clip(0)
        overlap = w * h / (areas[best] + areas[rest] - w * h + 1e-9)
        order = [int(i) for i in rest[overlap <= iou]]
    return keep


class YuNetDetector:
    """OpenCV Zoo YuNet (2023mar) run with onnxruntime on a letterboxed square input."""

    def __init__(self, model: Path, options: dict[str, Any], session: ort.SessionOptions) -> None:
        import onnxruntime as ort  # see bot.face.engine: never imported before gunicorn forks

        self.session = ort.InferenceSession(
            str(model), sess_options=session, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [output.name for output in self.session.get_outputs()]
        width, height = options.get("input_size", [640, 640])
        self.input_size = (int(width), int(height))
        self.score_threshold = float(options.get("score_threshold", 0.6))
        self.nms_threshold = float(options.get("nms_threshold", 0.3))

    def _blob(self, image: NDArray[np.uint8]) -> tuple[NDArray[np.float32], float]:
        """Resize keeping the aspect ratio, pad bottom/right with black; BGR 0..255 NCHW."""
        width, height = self.input_size
        scale = min(width / image.shape[1], height / image.shape[0])
        resized = cv2.resize(
            image,
            (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        )
        canvas = np.zeros((height, width, 3), dtype=np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        blob = canvas.transpose(2, 0, 1)[np.newaxis].astype(np.float32)
        return blob, scale

    def detect(self, image: NDArray[np.uint8]) -> Detections:
        """Decode every stride's grid, keep confident faces, then NMS."""
        blob, scale = self._blob(image)
        results = self.session.run(self.output_names, {self.input_name: blob})
        outputs = dict(zip(self.output_names, results, strict=True))
        width, height = self.input_size
        all_boxes, all_kps, all_scores = [], [], []
        for stride in STRIDES:
            cols, rows = width // stride, height // stride
            cls = outputs[f"cls_{stride}"].reshape(-1).clip(0, 1)
            obj = outputs[f"obj_{stride}"].reshape(-1).clip(0, 1)
            scores = np.sqrt(cls * obj)
            hits = np.nonzero(scores >= self.score_threshold)[0]
            if hits.size == 0:
                continue
            grid_x = (hits % cols).astype(np.float32)
            grid_y = (hits // cols).astype(np.float32)
            box = outputs[f"bbox_{stride}"].reshape(rows * cols, 4)[hits]
            centre_x = (grid_x + box[:, 0]) * stride
            centre_y = (grid_y + box[:, 1]) * stride
            box_w = np.exp(box[:, 2]) * stride
            box_h = np.exp(box[:, 3]) * stride
            all_boxes.append(
                np.stack(
                    [
                        centre_x - box_w / 2,
                        centre_y - box_h / 2,
                        centre_x + box_w / 2,
                        centre_y + box_h / 2,
                    ],
                    axis=1,
                )
            )
            kps = outputs[f"kps_{stride}"].reshape(rows * cols, 5, 2)[hits]
            grid = np.stack([grid_x, grid_y], axis=1)[:, np.newaxis, :]
            all_kps.append((kps + grid) * stride)
            all_scores.append(scores[hits])
        if not all_boxes:
            return np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)
        boxes = np.concatenate(all_boxes).astype(np.float32) / scale
        kpss = np.concatenate(all_kps).astype(np.float32) / scale
        scores_all = np.concatenate(all_scores).astype(np.float32)
        keep = _nms(boxes, scores_all, self.nms_threshold)
        bboxes = np.hstack([boxes[keep], scores_all[keep, np.newaxis]]).astype(np.float32)
        return bboxes, kpss[keep]


class ScrfdDetector:
    """insightface's SCRFD (e.g. ``buffalo_l``'s ``det_10g.onnx``) through ``model_zoo``."""

    def __init__(self, pack: Path, options: dict[str, Any], session: ort.SessionOptions) -> None:
        from insightface.model_zoo import get_model

        self.model = get_model(
            str(pack),
            model_task="detection",
            providers=["CPUExecutionProvider"],
            sess_options=session,
        )
        width, height = options.get("input_size", [640, 640])
        self.model.prepare(
            -1,
            input_size=(int(width), int(height)),
            det_thresh=float(options.get("score_threshold", 0.5)),
        )

    def detect(self, image: NDArray[np.uint8]) -> Detections:
        """insightface's own detect; already ``(bboxes, kpss)``."""
        bboxes, kpss = self.model.detect(image, max_num=0)
        if kpss is None:
            return np.asarray(bboxes, np.float32), np.zeros((0, 5, 2), np.float32)
        return np.asarray(bboxes, np.float32), np.asarray(kpss, np.float32)
