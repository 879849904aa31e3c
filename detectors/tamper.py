"""Scene change: was the camera turned, knocked, covered or replaced, as opposed to drifting or panning slowly?

The reference is the view at the last healthy health check (every `health.every_s`), so slow drift, slow pans,
shadows and moving crowds differ from it by one check's worth only; an abrupt change is held against the
reference that preceded it for `hold_s`. Each check compares edge maps first (Canny, dilated 5x5, on the 320-px
grey frame health already has: ~0.3 ms). Only where more than half of `scene_change` of the reference's edges are
missing does it match ORB features between the two frames and fit a similarity transform (rotation, uniform scale,
shift) with RANSAC (~1.5 ms). The camera moved when
- the transform moves a corner of the frame by `scene_shift` of its width or more between two checks (knocked,
  turned), or
- no transform fits MIN_INLIERS features (another scene, or something textured over the lens) and at least
  `scene_change` of the reference's edges are missing; a reference too plain for features is judged by its edges.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from detectors.model import Image

MIN_INLIERS = 20  # features that one transform must explain to say where the view went
# One pyramid level: the view does not change scale between two checks. 150 features at FAST threshold 12 on a
# 320-px frame: 0.6 ms each; the same view 1 s apart (also drifting, rotating, zooming) keeps >= 41 inliers on the
# shared clips, another scene or a mirrored one <= 8 (measured with 8 levels: ~2 ms, >= 12 against <= 14).
_ORB = {"nfeatures": 150, "nlevels": 1, "edgeThreshold": 31, "patchSize": 31, "fastThreshold": 12}
_DILATE = np.ones((5, 5), np.uint8)
Features = tuple[Sequence[cv2.KeyPoint], Image | None]


@dataclass(frozen=True, slots=True)
class ViewChange:
    moved: bool  # the camera's view changed abruptly since the reference
    lost: float  # fraction of the reference's edges the frame lacks, unaligned (1.0: sizes differ)
    shift: float | None  # largest corner displacement / width of the fitted transform; None: not fitted or no fit

    @property
    def value(self) -> float:
        """The measurement that decided: the shift where a transform placed the view, else the edges lost."""
        return self.lost if self.shift is None else self.shift


def edge_map(grey: Image) -> Image:
    edges: Image = cv2.dilate(cv2.Canny(grey, 50, 150), _DILATE)
    return edges


def edges_lost(ref: Image, cur: Image) -> float:
    if ref.shape != cur.shape:
        return 1.0
    n = cv2.countNonZero(ref)  # edge maps are 0/255
    return 1.0 - cv2.countNonZero(cv2.bitwise_and(ref, cur)) / n if n else 0.0


def corner_shift(m: Image, width: int, height: int) -> float:
    """How far the transform m (2x3) moves the frame's farthest corner, as a fraction of the width."""
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], np.float64)
    moved = corners @ np.asarray(m, np.float64).T - corners[:, :2]
    return float(np.linalg.norm(moved, axis=1).max()) / width


class _View:
    """A grey frame with its edge map; its ORB features are computed only if a comparison needs them."""

    __slots__ = ("_features", "edges", "grey")

    def __init__(self, grey: Image) -> None:
        self.grey = grey
        self.edges = edge_map(grey)
        self._features: Features | None = None

    def features(self, orb: cv2.ORB) -> Features:
        if self._features is None:
            self._features = orb.detectAndCompute(self.grey, None)
        return self._features


class SceneReference:
    """The last healthy view and the test that tells an abrupt change of view from drift."""

    def __init__(self, scene_shift: float = 0.1, scene_change: float = 0.6) -> None:
        self.scene_shift = scene_shift
        self.scene_change = scene_change
        self._orb = cv2.ORB.create(**_ORB)
        self._matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
        self._ref: _View | None = None
        self._cur: _View | None = None

    def compare(self, grey: Image) -> ViewChange:
        """Compare a frame with the reference; `follow()` then makes it the reference."""
        self._cur = cur = _View(grey)
        if self._ref is None:
            return ViewChange(False, 0.0, None)
        lost = edges_lost(self._ref.edges, cur.edges)
        if lost < self.scene_change / 2:
            return ViewChange(False, lost, None)  # most edges are where they were: not worth matching features
        m = self._fit(self._ref.features(self._orb), cur.features(self._orb))
        if m is not None:
            shift = corner_shift(m, grey.shape[1], grey.shape[0])
            return ViewChange(shift >= self.scene_shift, lost, shift)
        # No transform explains enough features. A reference with features to spare shows another scene now; a
        # plain one (fog, night, a bare wall) could not be matched anyway: either way the edges decide.
        return ViewChange(lost >= self.scene_change, lost, None)

    def follow(self) -> None:
        """The last compared frame is healthy and becomes the reference."""
        if self._cur is not None:
            self._ref = self._cur

    def _fit(self, ref: Features, cur: Features) -> Image | None:
        (ref_kp, ref_desc), (cur_kp, cur_desc) = ref, cur
        if ref_desc is None or cur_desc is None or min(len(ref_kp), len(cur_kp)) < MIN_INLIERS:
            return None
        matches = self._matcher.match(ref_desc, cur_desc)
        if len(matches) < MIN_INLIERS:
            return None
        src = np.array([ref_kp[m.queryIdx].pt for m in matches], np.float32)
        dst = np.array([cur_kp[m.trainIdx].pt for m in matches], np.float32)
        m, inliers = cv2.estimateAffinePartial2D(src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0)
        if m is None or inliers is None or int(inliers.sum()) < MIN_INLIERS:
            return None
        fitted: Image = m
        return fitted
