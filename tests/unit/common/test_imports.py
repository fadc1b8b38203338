"""Eventlet and greenlet are imported in one module only."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "objstore"


def test_only_concurrency_imports_eventlet() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n.split(".")[0] in ("eventlet", "greenlet") for n in names):
                offenders.append(path.relative_to(PACKAGE.parent))
    assert offenders == [Path("objstore/common/concurrency.py")] * len(offenders)
    assert offenders, "concurrency.py should be the one place eventlet is imported"
