"""The README is a front page: short, its results table copied from the committed study tables, its links alive.

Its previous version ran to 717 lines with a parameter table wrong on 12 keys; figures typed by hand drift, figures
checked against `metrics/study/*.md` (what `semisup study report` writes) cannot.
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def table_rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()
            if line.startswith("|") and not line.startswith("| ---")]


def plain(cell: str) -> str:
    return cell.replace("**", "").strip()


def test_the_front_page_is_short():
    assert len(README.splitlines()) <= 130


def test_every_result_in_the_readme_is_a_row_of_a_committed_study_table():
    """(arm, steps, test accuracy, difference) of each README row appear exactly so in metrics/study/*.md."""
    committed = set()
    for table in (ROOT / "metrics" / "study").glob("*.md"):
        for row in table_rows(table.read_text()):
            if len(row) == 6 and row[3].endswith("%"):
                arm = row[0].split(" (")[0]
                committed.add((arm, row[1], row[3], re.sub(r" over \d+ seeds$", "", row[5])))
    results = README.split("## Results")[1].split("\n## ")[0]
    rows = [r for r in table_rows(results) if r[0] != "data"]
    assert len(rows) >= 10
    for row in rows:
        key = (plain(row[1]), row[2], plain(row[4]), plain(row[5]))
        assert key in committed, f"README row {row} is not in metrics/study/*.md: copy it from there"


def test_every_local_link_in_the_readme_and_docs_exists():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    missing = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if target == "gpu.md" or target.endswith("docs/gpu.md"):  # written on its own branch
                continue
            if not (page.parent / target).exists():
                missing.append(f"{page.relative_to(ROOT)}: {target}")
    assert not missing, missing
