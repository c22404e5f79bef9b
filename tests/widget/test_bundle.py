"""The committed widget bundle: built from widget/src, within its size budget, every string translated."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pytest

WIDGET = Path(__file__).resolve().parents[2] / "widget"
BUNDLE = WIDGET / "static" / "widget.js"
# Issue 4: at most 25 KB gzipped, socket.io-client included.
BUDGET_GZIP_BYTES = 25_000
LANGUAGES = {"en", "zh-CN", "es", "fr", "de", "ja"}


def _node() -> str:
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        pytest.skip("Node.js/npm not installed: the widget bundle can only be rebuilt with them (see README)")
    if not (WIDGET / "node_modules" / "esbuild").is_dir():
        pytest.skip("widget/node_modules is missing: run `cd widget && npm ci` to check the bundle against its source")
    return node


def test_committed_bundle_matches_its_source() -> None:
    node = _node()
    result = subprocess.run(
        [node, "build.mjs", "--check"], cwd=WIDGET, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_bundle_fits_the_size_budget() -> None:
    size = len(gzip.compress(BUNDLE.read_bytes(), compresslevel=9))
    assert size <= BUDGET_GZIP_BYTES, f"widget.js is {size} bytes gzipped, over the {BUDGET_GZIP_BYTES} budget"


def test_every_language_has_every_string() -> None:
    node = _node()
    script = "import('./src/i18n.js').then((m) => console.log(JSON.stringify(m.STRINGS)))"
    result = subprocess.run(
        [node, "--input-type=module", "-e", script], cwd=WIDGET, capture_output=True, text=True, timeout=60, check=True
    )
    strings: dict[str, dict[str, str]] = json.loads(result.stdout)
    assert set(strings) == LANGUAGES
    keys = set(strings["en"])
    for lang, table in strings.items():
        assert set(table) == keys, f"{lang}: missing {keys - set(table)}, extra {set(table) - keys}"
        assert all(value.strip() for value in table.values()), lang
        if lang != "en":
            # Translated, not copied: most strings differ from English.
            same = [k for k in keys if table[k] == strings["en"][k]]
            assert len(same) <= 4, f"{lang} copies English for {same}"


def test_the_assistant_part_speaks_every_language() -> None:
    # widget-ai.js carries its own words (src/assistant-i18n.js), so widget.js does not for shops without it.
    node = _node()
    script = "import('./src/assistant-i18n.js').then((m) => console.log(JSON.stringify(m.AI_STRINGS)))"
    result = subprocess.run(
        [node, "--input-type=module", "-e", script], cwd=WIDGET, capture_output=True, text=True, timeout=60, check=True
    )
    strings: dict[str, dict[str, str]] = json.loads(result.stdout)
    assert set(strings) == LANGUAGES
    keys = set(strings["en"])
    for lang, table in strings.items():
        assert set(table) == keys, f"{lang}: missing {keys - set(table)}, extra {set(table) - keys}"
        assert all(value.strip() for value in table.values()), lang
        if lang != "en":
            # "AI" is the label in several languages; the sentences are translated.
            assert [k for k in keys if table[k] == strings["en"][k]] in ([], ["ai"]), lang
