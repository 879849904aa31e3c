"""docker-compose.yml is for deployments (no container engine here): check it is well-formed and coherent."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_file_is_coherent() -> None:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"kafka", "clickhouse"} <= set(services)
    declared_volumes = set(doc.get("volumes", {}))
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, name
        if "build" in svc:
            assert (ROOT / svc["build"] / "Dockerfile").exists()
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if not src.startswith((".", "/")):
                assert src in declared_volumes, f"{name}: undeclared volume {src}"
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"


def test_dockerfile_copies_every_package() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for pkg in ("schemas", "rules", "streams", "jobs", "detectors", "saqshy"):
        assert f"COPY {pkg} {pkg}" in text
