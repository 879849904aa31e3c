"""`make bench BENCH=detector`: the video worker's throughput on one core, against decoding alone.

For each real clip (skipped where absent), in the same run and on one thread (OpenCV and onnxruntime):
  decode_only_fps  frames/s of decoding every frame of the clip with OpenCV (the yardstick)
  fps_gated        clip frames/s through the whole worker (sampling at the camera config's rate, health, motion
                   gate, detector on moving crops or every still_every samples, tracking, analytics, events)
  fps_ungated      the same with the detector on every sampled frame
  infer_ms         ms per detector call (letterbox + onnxruntime + decoding + NMS)
  ratio            fps_gated / decode_only_fps (target >= 0.5)
The top-level figures are the ABODA clip's (a typical fixed camera: a still scene with occasional people);
the walkway clip, busy in every frame, is reported beside it under "clips". No GPU here: CUDA is not measured.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared"
MODEL = SHARED / "models" / "yolox_nano.onnx"
CLIPS = {
    "aboda": (SHARED / "data" / "video" / "aboda_video4.avi", ROOT / "detectors" / "examples" / "aboda_left_bag.yaml"),
    "walkway": (
        SHARED / "data" / "video" / "opencv_vtest_pets2009_s2l1_480x360.avi",
        ROOT / "detectors" / "examples" / "pets2009_walkway.yaml",
    ),
}


class NullSink:
    def __init__(self) -> None:
        self.count = 0

    def publish(self, event: object) -> None:
        self.count += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def decode_only(clip: Path) -> tuple[int, float]:
    cap = cv2.VideoCapture(str(clip))
    n, t0 = 0, time.perf_counter()
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    cap.release()
    return n, time.perf_counter() - t0


def worker(clip: Path, config: Path, gating: bool) -> tuple[float, float, int, int]:
    from detectors.config import load_config
    from detectors.model import load_detector
    from detectors.pipeline import run

    cfg = load_config(config)
    cfg = replace(cfg, snapshot_dir=None, model=replace(cfg.model, threads=1))
    detector = load_detector(cfg.model)
    sink = NullSink()
    t0 = time.perf_counter()
    stats = run(cfg, str(clip), detector, sink, start=datetime(2026, 1, 1, tzinfo=UTC), gating=gating)
    return time.perf_counter() - t0, stats.infer_ms, stats.inferences, stats.frames


def measure(name: str, clip: Path, config: Path) -> dict[str, float | int]:
    cap = cv2.VideoCapture(str(clip))
    source_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    cap.release()
    frames, dec_s = decode_only(clip)
    print(f"{name}: decode-only {frames / dec_s:.0f} frames/s", file=sys.stderr)
    gated_s, infer_ms, inf_gated, samples = worker(clip, config, True)
    print(f"{name}: gated {frames / gated_s:.0f} frames/s, {inf_gated}/{samples} samples inferred", file=sys.stderr)
    ungated_s, infer_ms_u, inf_ungated, _ = worker(clip, config, False)
    print(f"{name}: ungated {frames / ungated_s:.0f} frames/s", file=sys.stderr)
    return {
        "frames": frames,
        "samples": samples,
        "inferences_gated": inf_gated,
        "inferences_ungated": inf_ungated,
        "decode_only_fps": round(frames / dec_s, 1),
        "fps_gated": round(frames / gated_s, 1),
        "fps_ungated": round(frames / ungated_s, 1),
        "samples_per_s_ungated": round(samples / ungated_s, 1),
        "ratio": round(dec_s / gated_s, 3),
        "ratio_ungated": round(dec_s / ungated_s, 3),
        # How many times faster than the camera delivers: roughly how many such cameras one core keeps up with.
        "realtime_factor": round(frames / gated_s / source_fps, 2),
        "infer_ms": round((infer_ms * inf_gated + infer_ms_u * inf_ungated) / max(1, inf_gated + inf_ungated), 2),
    }


def main() -> None:
    if not MODEL.is_file():
        print(json.dumps({"bench": "detector", "skipped": f"model absent: {MODEL}"}))
        return
    cv2.setNumThreads(1)  # per core: decoding and the worker on one thread each
    clips = {name: measure(name, clip, cfg) for name, (clip, cfg) in CLIPS.items() if clip.is_file()}
    if not clips:
        print(json.dumps({"bench": "detector", "skipped": "no clips in ../shared/data/video"}))
        return
    head = clips.get("aboda") or next(iter(clips.values()))
    keys = ("fps_gated", "fps_ungated", "decode_only_fps", "ratio", "infer_ms", "realtime_factor")
    out: dict[str, object] = {
        "bench": "detector",
        **{k: head[k] for k in keys},
        "threads": 1,
        "cuda": "not measured: no GPU here",
    }
    out["clips"] = clips
    print(json.dumps(out))


if __name__ == "__main__":
    main()
