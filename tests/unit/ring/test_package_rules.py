"""The ring package's rules: fully typed, and standard library + msgpack only."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

RING = Path(__file__).resolve().parents[3] / "ring"


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_ring_imports_only_stdlib_msgpack_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"msgpack", "ring", "__future__"}
    for path in sorted(RING.glob("*.py")):
        extra = imported_modules(path) - allowed
        assert not extra, f"{path.name} imports {sorted(extra)}"


def test_ring_is_fully_typed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(RING)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
