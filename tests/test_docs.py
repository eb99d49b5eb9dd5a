"""The documentation: the README's Quick start is what CI runs, and every link of the pages holds.

The README's two Quick start commands are the project's promise (set up and colorize; set up and
test); CI (``.ci/run``) must run the second one verbatim. Every relative link and image of the
README, the docs pages and the model card must point at a file that exists (and, for a link into
a Markdown page with ``#anchor``, at one of its headings); every figure in ``docs/`` is shown by
some page; the pages name measurements by date and machine, never by "session".
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, ROOT / "models" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

# [text](target) and ![alt](target "title"); the target stops at whitespace or ")".
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def quick_start_commands(text: str) -> list[str]:
    """The ```sh blocks of the README's "## Quick start" section, each as its text."""
    match = re.search(r"^## Quick start\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no '## Quick start' section"
    return [b.strip() for b in re.findall(r"^```sh\n(.*?)^```", match.group(1), re.S | re.M)]


def links(text: str) -> list[str]:
    """Link and image targets of a Markdown text, outside fenced code blocks and code spans."""
    text = FENCE.sub("", text)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    heading = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", heading).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)}


def broken_links(page: Path) -> list[str]:
    """The relative links of ``page`` whose file (or heading) does not exist."""
    broken = []
    for target in links(page.read_text()):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or (
                anchor and dest.suffix == ".md" and anchor not in anchors(dest)):
            broken.append(target)
    return broken


def test_quick_start_has_the_two_commands_ci_runs():
    setup_and_colorize, setup_and_test = quick_start_commands(README.read_text())
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert setup_and_test in ci, "README's test command is not a line of .ci/run"
    assert setup_and_test.endswith("python -m pytest -q")
    # The first command sets up the same way, then colorizes both bundled samples.
    setup = setup_and_test.split(' -e ".[dev]"')[0]
    assert setup_and_colorize.startswith(setup + " -e . && ")
    assert "vidcolor samples/film.mp4 -o film_color.mp4" in setup_and_colorize
    assert "vidcolor samples/photo.png -o photo_color.png" in setup_and_colorize


def test_quick_start_needs_exactly_two_commands():
    text = "# x\n\n## Quick start\n\n```sh\na\n```\n\n```sh\nb\n```\n\n## Next\n"
    assert quick_start_commands(text) == ["a", "b"]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_and_image_exists(page):
    assert not broken_links(page), f"{page.relative_to(ROOT)}: broken links {broken_links(page)}"


def test_the_link_check_finds_a_missing_image_and_a_missing_anchor(tmp_path):
    (tmp_path / "shown.png").write_bytes(b"")
    (tmp_path / "other.md").write_text("# Other\n\n## A heading, with punctuation\n")
    page = tmp_path / "page.md"
    page.write_text("![ok](shown.png) ![gone](missing.png)\n"
                    "[ok](other.md#a-heading-with-punctuation) [bad](other.md#nowhere)\n"
                    "[web](https://example.org/x.png)\n"
                    "```\n![in code](not-checked.png)\n```\n")
    assert broken_links(page) == ["missing.png", "other.md#nowhere"]


def test_every_docs_figure_is_shown_by_a_page():
    shown = {(page.parent / t.partition("#")[0]).resolve()
             for page in PAGES for t in links(page.read_text())}
    figures = [p for p in (ROOT / "docs").iterdir() if p.suffix in (".png", ".jpg", ".svg", ".gif")]
    assert figures
    unshown = [p.name for p in figures if p.resolve() not in shown]
    assert not unshown, f"figures in docs/ that no page shows: {unshown}"


def test_readme_is_short():
    assert len(README.read_text().splitlines()) <= 250


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_measurements_are_dated_not_named_by_session(page):
    found = re.findall(r".{0,30}\bsessions?\b.{0,30}", page.read_text(), re.I)
    assert not found, f"{page.relative_to(ROOT)} says 'session' (give the date): {found}"


def _options_section() -> str:
    match = re.search(r"^## Options\n(.*?)(?=^## )", README.read_text(), re.S | re.M)
    assert match, "README.md has no '## Options' section"
    return match.group(1)


def _named(option: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


def test_options_table_names_every_option_of_the_cli(capsys):
    from vidcolor.cli import build_parser, hints_main

    render = {s for a in build_parser()._actions for s in a.option_strings if s.startswith("--")}
    assert hints_main(["--help"]) == 0
    hints = set(re.findall(r"^\s+(?:-\w, )?(--[a-z][\w-]*)", capsys.readouterr().out, re.M))
    assert "--port" in hints
    section = _options_section()
    missing = sorted(o for o in (render | hints) - {"--help"} if not _named(o, section))
    assert not missing, f"options missing from README's Options: {missing}"
