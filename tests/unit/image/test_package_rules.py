"""The image service's dependencies: the cluster only through its HTTP API,
and no OpenStack code at all (the glance CLI is a test tool)."""
from __future__ import annotations

import ast
from pathlib import Path

OBJSTORE = Path(__file__).resolve().parents[3] / "objstore"


def imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names.append(node.module or "")
    return names


def test_objstore_imports_no_openstack_code() -> None:
    offenders = {str(path.relative_to(OBJSTORE.parent)): name
                 for path in OBJSTORE.rglob("*.py") for name in imports(path)
                 if name.split(".")[0] in ("glance", "glanceclient", "keystoneauth1",
                                           "keystoneclient", "swift", "oslo_utils")}
    assert offenders == {}


def test_the_image_service_uses_no_server_internals() -> None:
    found = [(path.name, name) for path in (OBJSTORE / "image").glob("*.py")
             for name in imports(path) if name.startswith("objstore.")]
    assert found, "the image package imports objstore modules"
    assert [(file, name) for file, name in found
            if not name.startswith(("objstore.common.", "objstore.image"))] == []
