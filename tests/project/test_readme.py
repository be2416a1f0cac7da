"""The README is a front page whose code runs; the guide's Python blocks run too.

Every ```python block of README.md and of docs/guide/*.md runs, as written, in a fresh
process. A block followed by a ```text block (with at most one line of prose between,
such as "It prints:") must print what that block shows: the same lines, the same words,
and numbers within 1% (floats printed to two decimals may move in the last digit on
another CPU). README's blocks must all show what they print. Fragments that are not
meant to run are fenced as ```py.
"""

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs/guide").glob("*.md"))]

# A python block, then optionally (one line of prose, then) the text block of what it prints.
BLOCK = re.compile(r"^```python\n(.*?)^```\n(?:\n(?:[^`\n][^\n]*\n\n)?```text\n(.*?)^```\n)?", re.S | re.M)
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def blocks(page: Path) -> list[tuple[str, str | None]]:
    return [(code, printed) for code, printed in BLOCK.findall(page.read_text())] if page.exists() else []


CASES = [(page, i) for page in PAGES for i in range(len(blocks(page)))]


def case_id(case: tuple[Path, int]) -> str:
    return f"{case[0].relative_to(ROOT)}:{case[1]}"


def printed_lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def differences(got: list[str], expected: list[str]) -> list[str]:
    """What differs between the printed lines and the page's, line by line (empty: they agree)."""
    if len(got) != len(expected):
        return [f"{len(got)} lines printed, the page shows {len(expected)}"]
    out = []
    for g, e in zip(got, expected):
        numbers_g, numbers_e = NUMBER.findall(g), NUMBER.findall(e)
        same_words = NUMBER.sub("#", g) == NUMBER.sub("#", e)
        close = len(numbers_g) == len(numbers_e) and all(
            math.isclose(float(a), float(b), rel_tol=0.01, abs_tol=0.01) for a, b in zip(numbers_g, numbers_e)
        )
        if not (same_words and close):
            out.append(f"printed {g!r}, the page shows {e!r}")
    return out


def test_the_readme_has_python_blocks_that_show_what_they_print():
    found = blocks(README)
    assert found
    assert all(printed for _, printed in found), "every README python block is followed by a ```text block"


def test_the_comparison_catches_a_wrong_page():
    assert differences(["solved 8/8, IQM 7.84"], ["solved 8/8, IQM 7.85"]) == []
    assert differences(["solved 7/8, IQM 7.84"], ["solved 8/8, IQM 7.84"])
    assert differences(["IQM 7.84"], ["IQM 7.84", "seed 3: 1"])
    assert differences(["mean return 7.84"], ["mean greedy return 7.84"])


def test_the_readme_is_a_front_page():
    lines = README.read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines: move details into docs/guide/"
    cells = [cell.strip() for line in lines if line.startswith("|") for cell in line.strip().strip("|").split(" | ")]
    long = [cell for cell in cells if len(cell) > 200]
    assert not long, f"README table cells over 200 characters: {long}"


def test_the_readmes_links_reach_existing_pages_and_headings():
    text = README.read_text()
    for target in re.findall(r"\]\(([^)#:]+\.md)(?:#([^)]+))?\)", text):
        path, anchor = ROOT / target[0], target[1]
        assert path.exists(), f"README links to {target[0]}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", path.read_text(), re.M)
            slugs = {re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-") for h in headings}
            assert anchor in slugs, f"README links to {target[0]}#{anchor}; its headings give {sorted(slugs)}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_python_block_runs_and_prints_what_the_page_says(case, tmp_path):
    page, index = case
    code, expected = blocks(page)[index]
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = printed_lines(proc.stdout)
    if expected:
        problems = differences(got, printed_lines(expected))
        assert not problems, "\n".join(problems) + "\n--- printed:\n" + proc.stdout
    else:
        assert len(got) >= 3, proc.stdout  # it shows what it computed
