"""`zora dev`'s secrets: made once, then read back, so tokens and signatures outlive a restart."""

from __future__ import annotations

import stat
from pathlib import Path

from zora.security import kept_secret


def test_a_secret_is_made_once_owner_only_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    first = kept_secret(path)
    assert len(first) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert kept_secret(path) == first


def test_a_stored_secret_is_read_without_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    path.write_text("kept-from-an-earlier-run\n")
    assert kept_secret(path) == "kept-from-an-earlier-run"
