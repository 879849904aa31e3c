"""Prometheus metrics of a camera's detector worker (docs/detectors.md, Metrics), labelled by camera."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from detectors.capture import Lost, Sample

# milliseconds per inference: YOLOX-Nano on a crop takes a few, a tiled 4K frame on a CPU hundreds
INFER_MS_BUCKETS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0)


class DetectorMetrics:
    def __init__(self, camera: str, stream: bool, port: int | None = None):
        self.registry = CollectorRegistry()
        r, c = self.registry, [camera]
        self.frames_read = Counter("saqshy_detector_frames_read", "Frames decoded", ["camera"], registry=r).labels(*c)
        self.samples = Counter("saqshy_detector_samples", "Sampled frames processed", ["camera"], registry=r).labels(*c)
        self.inferences = Counter("saqshy_detector_inferences", "Detector runs", ["camera"], registry=r).labels(*c)
        self.infer_ms = Histogram(
            "saqshy_detector_inference_ms",
            "Milliseconds per detector run",
            ["camera"],
            buckets=INFER_MS_BUCKETS,
            registry=r,
        ).labels(*c)
        self.events = Counter("saqshy_detector_events", "Events published", ["camera", "analytic"], registry=r)
        self.tamper = Counter(
            "saqshy_detector_tamper_events", "Camera health (tamper) changes", ["camera"], registry=r
        ).labels(*c)
        self.reconnects = Counter(
            "saqshy_detector_reconnects", "Stream reconnects after a loss", ["camera"], registry=r
        ).labels(*c)
        self.capture_lag = Gauge(
            "saqshy_detector_capture_lag_seconds",
            "Wall clock minus the capture time of the sample processed last",
            ["camera"],
            registry=r,
        ).labels(*c)
        self.camera, self.stream = camera, stream
        self._last_index = 0 if stream else -1  # a stream's first frame is index 1, a file's 0
        self._inferences = self._reconnects = 0
        self._infer_s = 0.0
        if port is not None:
            start_http_server(port, registry=r)

    def sample(self, item: Sample | Lost, inferences: int, infer_s: float, reconnects: int) -> None:
        """After one item of the capture: the pipeline's and the capture's running totals."""
        if isinstance(item, Sample):
            self.frames_read.inc(max(item.index - self._last_index, 1))
            self._last_index = item.index
            self.samples.inc()
            if self.stream:  # a stream's sample time is the wall clock at capture; a file's is its position
                self.capture_lag.set(time.time() - item.t)
        if inferences > self._inferences:
            # the runs since the last item, at their mean time (one per sample in practice)
            mean_ms = 1000.0 * (infer_s - self._infer_s) / (inferences - self._inferences)
            for _ in range(inferences - self._inferences):
                self.infer_ms.observe(mean_ms)
            self.inferences.inc(inferences - self._inferences)
            self._inferences, self._infer_s = inferences, infer_s
        if reconnects > self._reconnects:
            self.reconnects.inc(reconnects - self._reconnects)
            self._reconnects = reconnects

    def event(self, analytic: str) -> None:
        self.events.labels(self.camera, analytic).inc()
        if analytic == "camera_tamper":
            self.tamper.inc()
