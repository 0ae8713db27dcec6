"""Finding the programs ``podscope`` runs: helm and kubectl.

Each is looked up on ``PATH``, then next to the Python interpreter (the virtualenv's ``bin``,
where ``scripts/tools.sh`` installs them), so ``.venv/bin/podscope`` works unactivated.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from cli.errors import ToolMissingError

INSTALL_HINTS = {
    "helm": "install helm 3.8 or later (https://helm.sh/docs/intro/install/)",
    "kubectl": "install kubectl (https://kubernetes.io/docs/tasks/tools/)",
}


def find_tool(name: str) -> str:
    """The path of the program ``name``; ToolMissingError if it is nowhere to be found."""
    interpreter_bin = str(Path(sys.executable).parent)
    found = shutil.which(name) or shutil.which(name, path=interpreter_bin)
    if found is None:
        hint = INSTALL_HINTS.get(name, f"install {name}")
        raise ToolMissingError(
            f"{name} not found on PATH or in {interpreter_bin}: {hint}, "
            "or run scripts/tools.sh in a podscope checkout"
        )
    return found
