"""Frame capture with OpenCV: files are read to the end, streams (rtsp/http) reconnect with backoff.

`frames()` yields Sample(frame, t) at the configured rate, or Lost(t, attempt, reason) while a stream is down,
so the worker can report no_signal without a second thread. Files carry their own clock (frame index / fps);
streams use the wall clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2

from detectors.errors import SourceError
from detectors.model import Image

log = logging.getLogger("saqshy.detectors.capture")
OPEN_TIMEOUT_MS = 10_000
READ_TIMEOUT_MS = 5_000


@dataclass(frozen=True, slots=True)
class Sample:
    frame: Image
    t: float  # seconds since the start of the source (files) or since the epoch (streams)
    index: int  # frame index in the source


@dataclass(frozen=True, slots=True)
class Lost:
    t: float
    attempt: int
    reason: str


def is_stream(source: str) -> bool:
    return source.split("://", 1)[0].lower() in {"rtsp", "rtsps", "http", "https", "rtmp", "udp", "tcp"}


@dataclass
class FrameSource:
    source: str
    sample_fps: float
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    max_retries: int | None = None  # None: a stream retries forever; files never retry
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time
    reconnects: int = 0
    threads: int = 0  # FFmpeg decoder threads; 0: OpenCV's default

    def _open(self) -> cv2.VideoCapture:
        params = [cv2.CAP_PROP_N_THREADS, self.threads] if self.threads else []
        if is_stream(self.source):  # bounded waits: a dead camera must not hang the worker inside FFmpeg
            params += [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
            cap = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, params)
        else:
            cap = cv2.VideoCapture(self.source, cv2.CAP_ANY, params)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"cannot open video source {self.source!r}")
        return cap

    def frames(self) -> Iterator[Sample | Lost]:
        if is_stream(self.source):
            yield from self._stream()
        else:
            yield from self._file()

    def _file(self) -> Iterator[Sample]:
        cap = self._open()
        try:
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            step, next_t, index = 1.0 / self.sample_fps, 0.0, 0
            while cap.grab():  # grab() skips colour conversion for frames that are not sampled
                t = index / fps
                if t + 1e-6 >= next_t:
                    ok, frame = cap.retrieve()
                    if ok and frame is not None:
                        yield Sample(frame, t, index)
                    while next_t <= t + 1e-6:
                        next_t += step
                index += 1
        finally:
            cap.release()

    def _stream(self) -> Iterator[Sample | Lost]:
        attempt, cap, index = 0, None, 0
        step, next_t = 1.0 / self.sample_fps, 0.0
        while True:
            if cap is None:
                try:
                    cap = self._open()
                    if attempt:
                        self.reconnects += 1
                        log.warning("reconnected to %s after %d attempt(s)", self.source, attempt)
                    attempt = 0
                except SourceError as exc:
                    attempt += 1
                    if self.max_retries is not None and attempt > self.max_retries:
                        raise SourceError(f"{exc}; gave up after {self.max_retries} retries") from None
                    yield Lost(self.clock(), attempt, str(exc))
                    self.sleep(min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1)))
                    continue
            if not cap.grab():
                cap.release()
                cap = None
                attempt += 1
                log.warning("lost stream %s (attempt %d)", self.source, attempt)
                yield Lost(self.clock(), attempt, "stream ended or read failed")
                self.sleep(min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1)))
                continue
            now = self.clock()
            index += 1
            if now >= next_t:
                ok, frame = cap.retrieve()
                if ok and frame is not None:
                    next_t = now + step
                    yield Sample(frame, now, index)
