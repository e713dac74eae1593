"""The whole book builds strictly (warnings are errors) and its launch links are right."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).with_name("jupyter-book")


def toc_chapters():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f for f in files if (ROOT / f"{f}.ipynb").exists()]


@pytest.fixture(scope="module")
def built_site():
    if not JUPYTER_BOOK.exists():
        pytest.fail("jupyter-book is not installed in this environment: run `make test`")
    proc = subprocess.run(
        [str(JUPYTER_BOOK), "build", ".", "-W", "-n", "--keep-going"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"strict build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return ROOT / "_build" / "html"


def test_every_chapter_notebook_is_in_the_toc():
    in_toc = set(toc_chapters())
    on_disk = {f"book/{p.stem}" for p in (ROOT / "book").glob("[0-9][0-9]_*.ipynb")}
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
