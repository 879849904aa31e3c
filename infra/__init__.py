"""Deployment specs shipped as package data: the topic spec (topics.yaml), the ClickHouse migrations and access
scopes (clickhouse/), and the manifests and scripts that fetch and start Kafka and Flink (kafka/, flink/).

Code reads them through :func:`resource`, so an installed wheel finds them wherever it runs from.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def resource(*parts: str) -> Path:
    """The path of a file or folder of this package (installed wheels are unpacked, so it is a real path)."""
    return Path(str(resources.files(__name__).joinpath(*parts)))
