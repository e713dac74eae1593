"""The built site in a real headless browser, as a reader sees it.

Every page of the table of contents (plus the search and index pages) is served from
``_build/html`` by a local HTTP server and opened in Debian's Chromium driven by Playwright
(never a downloaded browser; ``CHROMIUM`` overrides the executable). For each page:

- it loads with no console error, no uncaught exception and no failed request;
- it makes no request to any other host (every such request is blocked and reported);
- MathJax (served by the site) typesets every formula: no TeX error, no raw ``$$``,
  ``\\frac`` or ``\\begin{`` in the visible text outside code;
- every figure of the executed notebook is on the page, loaded, with alt text that says what
  it shows (its caption or the sentence after it), and every animation plays;
- a chapter's Colab and Binder buttons open that chapter's notebook;
- every internal link leads to an existing page and anchor.

Screenshots of a few pages are saved under ``_build/screenshots/`` (look at them).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import sys
import threading
import urllib.parse
from pathlib import Path

import nbformat
import pytest
import yaml

from conftest import BUILD, ROOT, toc_chapters, toc_files

SHOTS = BUILD / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
# Raw TeX that MathJax would have replaced; searched in the visible text outside code blocks.
RAW_TEX = re.compile(r"\$\$|\\frac|\\begin\{|\\mathbb|\\nabla|\\sum_")
sys.path.insert(0, str(ROOT / "book" / "_ext"))
from site_polish import FALLBACK as ALT_FALLBACK  # noqa: E402


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def site_pages() -> list[str]:
    """Pages to check, relative to the site root: the toc's pages plus search and index."""
    return [f"{f}.html" for f in toc_files()] + ["search.html", "genindex.html"]


@pytest.fixture(scope="module")
def server(built_site):
    handler = functools.partial(QuietHandler, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    executable = chromium_path()
    if executable is None:
        message = ("Chromium was not found, so the browser tests of the site did not run. "
                   "Install it (Debian/Ubuntu: `sudo apt-get install chromium`; `make test` does it "
                   "when run as root) or point CHROMIUM at a Chromium/Chrome executable.")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: run `make test`")
    with sync_api.sync_playwright() as pw:
        profile = tmp_path_factory.mktemp("chromium-profile")
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, service_workers="block",
        )
        yield context
        context.close()


class PageVisit:
    """Opens one page, recording console errors, failed and external requests."""

    def __init__(self, context, base: str, path: str):
        self.base, self.path = base, path
        self.errors: list[str] = []
        self.external: list[str] = []
        self.page = page = context.new_page()
        host = urllib.parse.urlsplit(base).netloc

        def route(r):
            url = r.request.url
            if url.startswith(("data:", "blob:", "about:")) or urllib.parse.urlsplit(url).netloc == host:
                r.continue_()
            else:
                self.external.append(url)
                r.abort()

        page.route("**/*", route)
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        page.on("requestfailed", lambda r: self.external.count(r.url) or self.errors.append(
            f"request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.errors.append(f"HTTP {r.status}: {r.url}"))
        page.goto(f"{base}/{path}", wait_until="load")
        # Sphinx adds MathJax only to pages with math: wait until it has typeset them
        self.has_mathjax = page.locator("script[src*='mathjax']").count() > 0
        if self.has_mathjax:
            page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                   timeout=30000)
            page.evaluate("() => MathJax.startup.promise")
        page.wait_for_function("() => Array.from(document.images).every(im => im.complete)", timeout=30000)

    def close(self):
        self.page.close()


@pytest.fixture(scope="module")
def visits(browser, server):
    """Every page visited once; the per-page results are shared by the tests below."""
    opened = {}

    def visit(path):  # not dict.setdefault, whose default would open the page on every call
        if path not in opened:
            opened[path] = PageVisit(browser, server, path)
        return opened[path]

    yield visit
    for page in opened.values():
        page.close()


def executed_outputs(chapter: str) -> tuple[int, int]:
    """(image outputs, animations) of the chapter as the build executed it (its cached outputs)."""
    from jupyter_cache import get_cache

    source = nbformat.read(ROOT / f"{chapter}.ipynb", as_version=4)
    _, nb = get_cache(BUILD / ".jupyter_cache").merge_match_into_notebook(source)
    n_images = n_anims = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data or "image/svg+xml" in data:
                n_images += 1
            elif "gmc-animation" in "".join(data.get("text/html", "")):
                n_anims += 1
    return n_images, n_anims


@pytest.mark.parametrize("path", site_pages())
def test_page_loads_offline_without_errors(visits, path):
    visit = visits(path)
    assert not visit.external, f"{path} requested other hosts: {visit.external}"
    assert not visit.errors, f"{path}: " + "\n".join(visit.errors)


@pytest.mark.parametrize("path", site_pages())
def test_math_is_typeset(visits, path):
    page = visits(path).page
    report = page.evaluate("""() => {
        const body = document.querySelector('main') || document.body;
        const clone = body.cloneNode(true);
        clone.querySelectorAll('pre, code, script, style, mjx-container, .cell_input, textarea')
             .forEach(e => e.remove());
        return {text: clone.innerText,
                errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
                typeset: document.querySelectorAll('mjx-container').length,
                sources: document.querySelectorAll('.math, div.math, span.math').length};
    }""")
    raw = sorted(set(RAW_TEX.findall(report["text"])))
    assert not raw, f"{path}: raw TeX visible: {raw}"
    assert report["errors"] == 0, f"{path}: {report['errors']} MathJax errors"
    assert report["typeset"] >= report["sources"], f"{path}: {report['typeset']} formulas typeset of {report['sources']}"


@pytest.mark.parametrize("chapter", toc_chapters())
def test_figures_and_animations_are_present(visits, chapter):
    page = visits(f"{chapter}.html").page
    n_images, n_anims = executed_outputs(chapter)
    images = page.evaluate("""() => Array.from(document.querySelectorAll('.cell_output img')).map(
        im => ({alt: im.getAttribute('alt') || '', src: im.src.slice(0, 80), loaded: im.complete && im.naturalWidth > 0,
                anim: !!im.closest('.gmc-animation')}))""")
    figures = [im for im in images if not im["anim"]]
    assert len(figures) == n_images, f"{chapter}: {len(figures)} figures on the page, {n_images} in the notebook"
    for im in images:
        assert im["loaded"], f"{chapter}: image {im['src']} did not load"
        alt = im["alt"].strip()
        assert alt and alt != ALT_FALLBACK and not re.search(r"\.(png|svg|jpe?g)$", alt), (
            f"{chapter}: a figure has no caption and no sentence after it to say what it shows "
            f"(alt text {alt!r}); add a caption (cell metadata mystnb.figure.caption) or a sentence")
        assert not re.fullmatch(r"Animation in \d+ frames\.", alt), (
            f"{chapter}: an animation has no caption saying what it shows (pass caption=... or alt=...)")
    anims = page.locator("figure.gmc-animation")
    assert anims.count() == n_anims, f"{chapter}: {anims.count()} animations on the page, {n_anims} in the notebook"
    for k in range(anims.count()):
        anim = anims.nth(k)
        anim.scroll_into_view_if_needed()
        slider = anim.locator("input[type=range]")
        before = slider.input_value()
        anim.locator("button").click()
        page.wait_for_function("([el, v]) => el.value !== v", arg=[slider.element_handle(), before], timeout=5000)
        assert slider.input_value() != before, f"{chapter}: animation {k} does not play"
        anim.locator("button").click()  # pause


@pytest.mark.parametrize("chapter", toc_chapters())
def test_launch_buttons_open_this_chapter(visits, chapter):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/")
    branch = config["repository"]["branch"]
    hrefs = visits(f"{chapter}.html").page.evaluate(
        "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    colab = f"https://colab.research.google.com/github/{repo}/blob/{branch}/"
    to_chapters = {h for h in hrefs if h.startswith(colab + "book/")}
    assert to_chapters == {f"{colab}{chapter}.ipynb"}, f"{chapter}: Colab links {to_chapters}"
    exercise = chapter.replace("book/", "exercises/", 1)
    to_exercises = {h for h in hrefs if h.startswith(colab + "exercises/")}
    assert to_exercises <= {f"{colab}{exercise}.ipynb"}, f"{chapter}: Colab links to other exercises {to_exercises}"
    binder = [h for h in hrefs if "mybinder.org" in h]
    assert binder, f"{chapter}: no Binder button"
    for href in binder:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)
        assert f"/v2/gh/{repo}/{branch}" in href and query.get("urlpath") == [f"lab/tree/{chapter}.ipynb"], href
    assert any(h.endswith(f"_sources/{chapter}.ipynb") for h in hrefs), f"{chapter}: no .ipynb download button"


@pytest.mark.parametrize("path", site_pages())
def test_internal_links_resolve(visits, built_site, path):
    visit = visits(path)
    hrefs = visit.page.evaluate("() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    broken = []
    for href in set(hrefs):
        parts = urllib.parse.urlsplit(href)
        if not href.startswith(visit.base):
            continue
        target = built_site / urllib.parse.unquote(parts.path.lstrip("/"))
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            broken.append(href)
        elif parts.fragment and target.suffix == ".html":
            ids = set(re.findall(r'\bid="([^"]+)"', target.read_text(errors="replace")))
            if urllib.parse.unquote(parts.fragment) not in ids:
                broken.append(href)
    assert not broken, f"{path}: broken internal links {sorted(broken)}"


def test_screenshots(visits):
    """Screenshots of the home page, the first two chapters, the first chapter with an animation
    and the how-to page, for a person to look at."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    chapters = toc_chapters()
    animated = [c for c in chapters if executed_outputs(c)[1]][:1]
    wanted = [toc_files()[0]] + chapters[:2] + animated + [f for f in toc_files() if f.endswith("how_to_use")]
    saved = {}
    for f in wanted:
        page = visits(f"{f}.html").page
        name = Path(f).name
        page.screenshot(path=str(SHOTS / f"{name}.png"))
        display = page.locator("mjx-container[display=true]")
        if display.count():
            display.first.scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / f"{name}-math.png"))
        figure = page.locator(".cell_output img, figure.gmc-animation")
        if figure.count():
            figure.first.scroll_into_view_if_needed()
            page.screenshot(path=str(SHOTS / f"{name}-figure.png"))
        animation = page.locator("figure.gmc-animation")
        if animation.count():
            animation.first.scroll_into_view_if_needed()
            animation.first.screenshot(path=str(SHOTS / f"{name}-animation.png"))
        saved[f] = sorted(p.name for p in SHOTS.glob(f"{name}*.png"))
    (SHOTS / "index.json").write_text(json.dumps(saved, indent=1))
    assert all(saved.values())


MAX_PAGE_BYTES = 5_000_000


def test_pages_are_light(built_site):
    """Each page (its HTML with embedded animations, plus its own figures) stays under 5 MB.

    Shared assets (theme, MathJax) are loaded once per visit and cached, so they are not
    counted. The sizes are written to ``_build/page-sizes.json``; the largest is printed.
    """
    sizes = {}
    for path in site_pages():
        page = built_site / path
        html = page.read_text(errors="replace")
        images = {m for m in re.findall(r'src="([^"]*_images/[^"]+)"', html)}
        sizes[path] = page.stat().st_size + sum((page.parent / src).resolve().stat().st_size for src in images)
    (BUILD / "page-sizes.json").write_text(json.dumps(sizes, indent=1) + "\n")
    largest = max(sizes, key=sizes.get)
    print(f"largest page: {largest}, {sizes[largest] / 1e6:.2f} MB")
    heavy = {p: s for p, s in sizes.items() if s > MAX_PAGE_BYTES}
    assert not heavy, f"pages over {MAX_PAGE_BYTES / 1e6:.0f} MB: {heavy}"
