"""Where a benchmark run's block lands in docs/benchmarks.md (bench/report.py, shared by the benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import md_table, write_block

MARKERS = ("<!-- b:begin k -->", "<!-- b:end k -->")
DOC = """# Benchmarks

## Relay

How.

<!-- b:begin k -->
old run
<!-- b:end k -->

<!-- b:end-of-results -->

Reading.

## Webhooks

Runs.

### Run: one

first
"""


def _write(tmp_path: Path, text: str | None, block: str, **where: Any) -> str:
    doc = tmp_path / "benchmarks.md"
    if text is not None:
        doc.write_text(text, encoding="utf-8")
    write_block(block, doc=doc, **where)
    return doc.read_text(encoding="utf-8")


def test_a_run_replaces_the_block_of_its_own_kind_only(tmp_path: Path) -> None:
    block = f"{MARKERS[0]}\nnew run\n{MARKERS[1]}"
    out = _write(tmp_path, DOC, block, heading="Relay", intro="", markers=MARKERS, before="<!-- b:end-of-results -->")
    assert out == DOC.replace("old run", "new run")


def test_a_new_kind_of_run_goes_before_the_marker(tmp_path: Path) -> None:
    other = ("<!-- b:begin other -->", "<!-- b:end other -->")
    block = f"{other[0]}\nother run\n{other[1]}"
    out = _write(tmp_path, DOC, block, heading="Relay", intro="", markers=other, before="<!-- b:end-of-results -->")
    assert out == DOC.replace(
        "<!-- b:end-of-results -->", f"{other[0]}\nother run\n{other[1]}\n\n<!-- b:end-of-results -->"
    )


def test_a_run_without_markers_goes_at_the_end_of_its_section(tmp_path: Path) -> None:
    relay = _write(tmp_path, DOC, "\n### Run: two\n\nsecond\n", heading="Relay", intro="")
    assert relay == DOC.replace("Reading.\n\n## Webhooks", "Reading.\n\n### Run: two\n\nsecond\n\n## Webhooks")
    webhooks = _write(tmp_path, DOC, "\n### Run: two\n\nsecond\n", heading="Webhooks", intro="")
    assert webhooks == DOC + "\n### Run: two\n\nsecond\n"


def test_a_missing_section_is_added_at_the_end_with_its_intro(tmp_path: Path) -> None:
    out = _write(tmp_path, DOC, "### Run: w\n\nwidget", heading="Widget", intro="What it measures.\n")
    assert out == DOC + "\n## Widget\n\nWhat it measures.\n\n### Run: w\n\nwidget\n"
    # A subsection of the same name is not the section.
    sub = _write(tmp_path, "# Benchmarks\n\n### Widget\n\nx\n", "run", heading="Widget", intro="Intro.")
    assert sub == "# Benchmarks\n\n### Widget\n\nx\n\n## Widget\n\nIntro.\n\nrun\n"


def test_a_missing_doc_starts_with_the_benchmarks_intro(tmp_path: Path) -> None:
    out = _write(tmp_path, None, "run", heading="Relay", intro="Intro.")
    assert out.startswith("# Benchmarks\n\n") and out.endswith("\n\n## Relay\n\nIntro.\n\nrun\n")


def test_markdown_table() -> None:
    assert md_table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"
