"""The dependency direction of docs/architecture.md ("Dependency direction"), enforced:
schemas <- rules <- {streams, jobs}; schemas <- detectors.

The core never imports a runtime (Kafka, Faust, Flink, ClickHouse, OpenCV) and never reads the clock.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNTIMES = {"faust", "confluent_kafka", "pyflink", "clickhouse_connect", "chdb", "cv2", "onnxruntime", "aiokafka"}
ALLOWED: dict[str, set[str]] = {
    # package -> first-party packages it may import
    "schemas": set(),
    "rules": {"schemas", "rules"},
    "streams": {"schemas", "rules", "streams", "infra"},
    "jobs": {"schemas", "rules", "streams", "jobs", "infra"},
    "infra": set(),  # data: specs, migrations, manifests
    "detectors": {"schemas", "detectors"},
}
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "schemas": RUNTIMES | {"shapely", "rtree", "yaml", "msgspec", "numpy"},
    "rules": RUNTIMES,
    "streams": {"pyflink", "cv2", "onnxruntime"},
    "detectors": {"faust", "pyflink", "clickhouse_connect", "chdb"},
}
FIRST_PARTY = set(ALLOWED) | {"saqshy", "tests"}
CLOCK_CALLS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "monotonic"),
    ("time", "perf_counter"),
    ("time", "time_ns"),
}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_first_party_imports_point_one_way(package: str) -> None:
    bad = []
    for path in _modules(package):
        for name in _imports(path) & FIRST_PARTY:
            if name not in ALLOWED[package] and name != package:
                bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not bad, "\n".join(bad)


# The one exception: the position-keeping YAML reader that rules/ and detectors/ share (file:line:col errors for
# rule files and camera configs) may import PyYAML, a core dependency of every deployable.
YAML_READER = ROOT / "schemas" / "yamlpos.py"


def _allowed(path: Path, name: str) -> bool:
    return path == YAML_READER and name == "yaml"


@pytest.mark.parametrize("package", sorted(FORBIDDEN_THIRD_PARTY))
def test_no_forbidden_runtime_imports(package: str) -> None:
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(package)
        for name in _imports(path) & FORBIDDEN_THIRD_PARTY[package]
        if not _allowed(path, name)
    ]
    assert not bad, "\n".join(bad)


# The contract's only third-party packages: pydantic, and pydantic-settings for the settings models every
# deployable shares (schemas/settings.py; the detector may import nothing else of the project).
SCHEMAS_THIRD_PARTY = {"pydantic", "pydantic_settings"}


def test_schemas_import_only_pydantic_and_the_standard_library() -> None:
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules("schemas")
        for name in _imports(path) - FIRST_PARTY - SCHEMAS_THIRD_PARTY
        if name not in sys.stdlib_module_names and not _allowed(path, name)
    ]
    assert not bad, "\n".join(bad)


def test_core_never_reads_the_clock() -> None:
    bad = []
    for path in _modules("rules") + _modules("schemas"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                base = node.func.value
                name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else None
                if (name, node.func.attr) in CLOCK_CALLS:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} calls {name}.{node.func.attr}()")
    assert not bad, "\n".join(bad)


def test_core_does_no_io() -> None:
    """open()/sockets/subprocess are for the edges; the loader (rules/loader.py) is the one reader of files."""
    bad = []
    for path in _modules("rules"):
        if path.name in {"loader.py"}:
            continue
        imports = _imports(path)
        for mod in {"socket", "subprocess", "requests", "urllib", "http"} & imports:
            bad.append(f"{path.relative_to(ROOT)} imports {mod}")
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in {"open", "eval", "exec"}
            ):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} calls {node.func.id}()")
    assert not bad, "\n".join(bad)


def test_the_architecture_test_sees_violations(tmp_path: Path) -> None:
    """Guard against a vacuous test: the import scanner finds imports in every form."""
    f = tmp_path / "m.py"
    f.write_text("import confluent_kafka.admin\nfrom pyflink.datastream import X\nfrom . import sibling\n")
    assert _imports(f) == {"confluent_kafka", "pyflink"}
