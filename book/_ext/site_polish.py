"""Small fixes that make the built site accessible and self-contained (a Sphinx extension).

**Alt text.** myst-nb writes a notebook's image outputs with no alt text, so the HTML falls back to the
image's file name (a screen reader reads "underscore images slash 4ffb…png"). This Sphinx
extension sets the alt text of each image in a cell output, unless the chapter gave one
(cell metadata ``mystnb.image.alt``), to

1. the figure's caption (cell metadata ``mystnb.figure.caption``), else
2. the paragraph right after the cell (the sentence that says what the figure shows), else
3. the paragraph right before it when that paragraph ends with a colon.

Otherwise it sets :data:`FALLBACK`, which the site's browser tests reject: every figure
needs a caption or a sentence saying what it shows.

**No live-code assets.** Jupyter Book always loads sphinx-thebe, which adds its
configuration script twice to every page (a console error: "Identifier 'THEBE_JS_URL' has
already been declared") and points at a CDN. The course does not enable live code
(``launch_buttons.thebe``), so those assets are left out of the pages; readers run code in
Colab, Binder or JupyterLab instead.

**Light mode by default.** On a first visit the theme finds no stored colour mode and logs
"Got invalid theme mode" as a console error; the pages start in light mode instead (the
figures are drawn on white), and the reader's choice in the theme switcher is kept.
"""

from __future__ import annotations

from docutils import nodes

FALLBACK = "Figure computed by the code above."
MAX_CHARS = 300
DEFAULT_MODE_JS = ('if (!document.documentElement.dataset.mode) { document.documentElement.dataset.mode = "light"; }'
                   ' if (!document.documentElement.dataset.theme) { document.documentElement.dataset.theme = "light"; }')


def _text(node: nodes.Node) -> str:
    text = " ".join(node.astext().split())
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"


def _cell(node: nodes.Node) -> nodes.Element | None:
    while node is not None:
        if isinstance(node, nodes.container) and "cell" in node.get("classes", []):
            return node
        node = node.parent
    return None


def _neighbour_paragraph(cell: nodes.Element, step: int) -> nodes.paragraph | None:
    parent = cell.parent
    if parent is None:
        return None
    i = parent.index(cell) + step
    while 0 <= i < len(parent.children):
        sibling = parent.children[i]
        if isinstance(sibling, nodes.paragraph):
            return sibling
        if isinstance(sibling, (nodes.container, nodes.section, nodes.title)):
            return None  # another cell or a new section: nothing describes this figure
        i += step
    return None


def set_alt_texts(app, doctree: nodes.document, docname: str) -> None:
    for image in doctree.findall(nodes.image):
        if image.get("alt") or _cell(image) is None:
            continue
        alt = None
        figure = image.parent if isinstance(image.parent, nodes.figure) else None
        captions = list(figure.findall(nodes.caption)) if figure is not None else []
        if captions:
            alt = _text(captions[0])
        else:
            cell = _cell(image)
            after = _neighbour_paragraph(cell, +1)
            before = _neighbour_paragraph(cell, -1)
            if after is not None:
                alt = _text(after)
            elif before is not None and before.astext().rstrip().endswith(":"):
                alt = _text(before)
        image["alt"] = alt or FALLBACK


def _thebe_enabled(app) -> bool:
    options = getattr(app.config, "html_theme_options", {}) or {}
    return bool((options.get("launch_buttons") or {}).get("thebe"))


def drop_thebe_assets(app, pagename, templatename, context, doctree) -> None:
    if _thebe_enabled(app):
        return
    def is_thebe(asset) -> bool:
        text = f"{asset} {getattr(asset, 'filename', '')} {getattr(asset, 'attributes', {}).get('body', '')}"
        return "thebe" in text.lower()
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not is_thebe(a)]


def setup(app):
    app.connect("doctree-resolved", set_alt_texts)
    app.connect("html-page-context", drop_thebe_assets)
    app.add_js_file(None, body=DEFAULT_MODE_JS, priority=1)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
