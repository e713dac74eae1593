"""The whole book builds strictly (warnings are errors) and its launch links are right."""

import re

import nbformat
import yaml

from conftest import ROOT, toc_chapters


def test_every_chapter_notebook_is_in_the_toc():
    in_toc = set(toc_chapters())
    on_disk = {f"book/{p.stem}" for p in (ROOT / "book").glob("*.ipynb")}  # chapters and appendix pages
    assert on_disk == in_toc


def test_book_builds_strictly_with_colab_links(built_site):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    branch = config["repository"]["branch"]
    for chapter in toc_chapters():
        page = built_site / f"{chapter}.html"
        assert page.exists(), f"{page} was not built"
        html = page.read_text()
        expected = f"https://colab.research.google.com/github/{repo}/blob/{branch}/{chapter}.ipynb"
        assert expected in html, f"{chapter}: no Colab launch link to {expected}"
        # any other Colab link to a book chapter would send readers to the wrong notebook
        links = set(re.findall(r'https://colab\.research\.google\.com/github/[^"\'<\s]+/book/[^"\'<\s]+', html))
        assert links == {expected}, f"{chapter}: Colab links to chapters {links}, expected only {expected}"


def test_pages_workflow_publishes_what_make_book_builds():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert triggers["push"]["branches"] == ["main"]
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    assert any(s.get("run") == "make book" for s in steps)
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert uploads and uploads[0]["with"]["path"] == "_build/html"
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in steps)


MAX_CODE_LINE = 88  # characters; CONTRIBUTING.md: the site shows such lines without scrolling
NOTEBOOK_FOLDERS = ("book", "solutions", "exercises")


def long_code_lines(path, limit=MAX_CODE_LINE):
    """``"file: cell N line M (L chars)"`` for each code line of ``path`` longer than ``limit``.

    N counts every cell of the notebook from 1, as Jupyter shows them; M counts the lines of
    that cell from 1.
    """
    nb = nbformat.read(path, as_version=4)
    name = path.relative_to(ROOT).as_posix()
    return [
        f"{name}: cell {n} line {m} ({len(line)} chars)"
        for n, cell in enumerate(nb.cells, start=1) if cell.cell_type == "code"
        for m, line in enumerate(cell.source.splitlines(), start=1) if len(line) > limit
    ]


def test_notebook_code_lines_fit_in_88_characters():
    notebooks = sorted(p for folder in NOTEBOOK_FOLDERS for p in (ROOT / folder).glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    too_long = [entry for path in notebooks for entry in long_code_lines(path)]
    assert not too_long, (
        f"{len(too_long)} code lines longer than {MAX_CODE_LINE} characters "
        "(break them where a reader would):\n" + "\n".join(too_long)
    )
