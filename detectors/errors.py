"""One root exception for the detectors package; every message names the camera or file it concerns."""

from __future__ import annotations


class DetectorError(Exception):
    """Root of every error raised by detectors/."""


class ConfigError(DetectorError):
    """A camera config is invalid: the message names the file and the key."""


class SourceError(DetectorError):
    """A video source cannot be opened (after the configured retries)."""


class ModelError(DetectorError):
    """The ONNX model cannot be loaded or does not have the expected shape."""


class PublishError(DetectorError):
    """Events could not be delivered to Kafka or written to a file."""
