"""MkDocs hooks: the guide pages are README.md's sections, so the docs never drift from it.

``on_files`` splits README.md at its ``## `` headings (outside fenced code) into one
generated page per section, ``guide/<slug>.md``, each heading one level up (``##`` ->
``#``, ``###`` -> ``##``). The text before the first section replaces the
``<!-- readme:intro -->`` line of ``docs/index.md``. A README section that no page of
the ``nav`` lists is a warning, so ``mkdocs build --strict`` fails until it is added;
a renamed section leaves a ``nav`` entry without its file, which mkdocs also warns on.
(The docstrings' Sphinx roles, ``:class:`Agent``` and the like, are turned into links
by the Griffe extension in ``docs/griffe_roles.py``.)
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.readme")

INTRO_MARKER = "<!-- readme:intro -->"
_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^#{2,6} ")


def slug(title: str) -> str:
    """``"Long runs: checkpoints, ..."`` -> ``"long-runs"``; ```rljax train``` -> ``"rljax-train"``."""
    head = re.split(r"[:(]", title.replace("`", ""), maxsplit=1)[0]
    return re.sub(r"[^a-z0-9]+", "-", head.lower()).strip("-")


def split_readme(text: str) -> tuple[str, list[tuple[str, str]]]:
    """README text -> (intro without the ``# `` title, [(section title, page markdown), ...])."""
    intro: list[str] = []
    sections: list[tuple[str, list[str]]] = []
    in_fence = False
    for line in text.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence and line.startswith("## "):
            title = line[3:].strip()
            sections.append((title, [f"# {title}"]))
            continue
        elif not in_fence and _HEADING.match(line):
            if not sections:
                continue  # the README's own title; the index page has its own
            line = line[1:]  # one heading level up inside a section
        (sections[-1][1] if sections else intro).append(line)
    return "\n".join(intro).strip() + "\n", [(t, "\n".join(body).strip() + "\n") for t, body in sections]


def _readme(config) -> Path:
    return Path(config["config_file_path"]).parent / "README.md"


def _nav_paths(nav) -> set[str]:
    out: set[str] = set()
    for item in nav or []:
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if isinstance(value, list):
            out |= _nav_paths(value)
        elif isinstance(value, str):
            out.add(value)
    return out


def on_files(files, config):
    _, sections = split_readme(_readme(config).read_text(encoding="utf-8"))
    listed = _nav_paths(config["nav"])
    for title, body in sections:
        uri = f"guide/{slug(title)}.md"
        files.append(File.generated(config, uri, content=body))
        if config["nav"] is not None and uri not in listed:
            log.warning("README section %r is generated as %s, which no nav entry of mkdocs.yml lists", title, uri)
    return files


def on_page_markdown(markdown, page, config, files):
    if INTRO_MARKER in markdown:
        intro, _ = split_readme(_readme(config).read_text(encoding="utf-8"))
        markdown = markdown.replace(INTRO_MARKER, intro)
    return markdown
