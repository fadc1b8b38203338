"""The servers' sample configs (etc/*.conf-sample), made from their schemas.

    python3 -m objstore.common.samples [etc]

writes every sample; a test checks each file matches, so a sample can
never miss or misstate an option.
"""
from __future__ import annotations

import os
import sys
from typing import Any

from objstore.common.config import describe

# file name -> (what the server does, section, schema's module:class)
SAMPLES: dict[str, tuple[str, str, str]] = {
    "object-server.conf-sample": (
        "objstore-object-server: objects on this node's devices.",
        "app:object-server", "objstore.obj.server:ObjectServerConfig"),
    "container-server.conf-sample": (
        "objstore-container-server: container listings on this node's devices.",
        "app:container-server", "objstore.container.server:ContainerServerConfig"),
    "account-server.conf-sample": (
        "objstore-account-server: account listings on this node's devices.",
        "app:account-server", "objstore.account.server:AccountServerConfig"),
}


def schema_of(dotted: str) -> Any:
    module, _, name = dotted.partition(":")
    return getattr(__import__(module, fromlist=[name]), name)


def render(title: str, section: str, schema: Any) -> str:
    lines = [f"# {title}", "# Every option is shown at its default; uncomment to change.", "",
             f"[{section}]"]
    for name, default, text in describe(schema):
        if isinstance(default, bool):
            default = "true" if default else "false"
        elif isinstance(default, list):
            default = ", ".join(default)
        lines += [f"# {text}", f"# {name} = {default}"]
    return "\n".join(lines) + "\n"


def main() -> None:
    directory = sys.argv[1] if len(sys.argv) > 1 else "etc"
    for file_name, (title, section, dotted) in SAMPLES.items():
        with open(os.path.join(directory, file_name), "w", encoding="utf-8") as handle:
            handle.write(render(title, section, schema_of(dotted)))


if __name__ == "__main__":
    main()
