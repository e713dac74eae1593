"""The class report of ``gm-course grade``: ``summary.html`` and ``grades_canvas.csv``.

A small class of chapter 1 (full marks, an untouched exercise, two learners with the same
slip, a crash, a cell that loops forever, a learner whose function raises a message full of
HTML, a truncated file) is graded once; the page's numbers are read back from its HTML and
compared with ``results.csv`` and the journal, and the page is opened in Debian's Chromium
(as ``test_site`` does) to see that it renders offline without a request or an error.
"""

from __future__ import annotations

import csv
import html.parser
import json
import os
import re
from collections import Counter
from pathlib import Path

import nbformat
import pytest

from gm_course import class_report
from gm_course.class_report import reason_key, student_id
from test_batch_grading import CH1, _grade, _nb, _replace, _with_cell

HOSTILE = "<script>alert(1)<&>"  # a file name a learner could choose
HOSTILE_MESSAGE = "<b>x</b> < 0 & <script>alert(2)</script>"
SAME_SLIP = ("def conditional_density(joint, dy):\n    return joint",
             "def conditional_density(joint, dy):\n    return 2 * joint")
GRADED = ("ok", "error", "memory", "timeout", "crashed", "tampered")


def sandbox_args() -> list[str]:
    """The grader's sandbox where bubblewrap runs; these notebooks are the test's own."""
    from gm_course import bubblewrap

    try:
        bubblewrap.probe()
    except bubblewrap.SandboxUnavailable:
        return ["--unsafe-no-sandbox"]
    return []


def write_class(folder: Path) -> dict[str, str]:
    """Eight submissions of chapter 1; ``{student id: file below folder}``."""
    s, e = _nb("solutions"), _nb("exercises")
    raising = ("def joint_histogram(x, y, bins_x, bins_y, x_range, y_range):\n"
               f"    raise ValueError({HOSTILE_MESSAGE!r})")
    notebooks = {
        "alice": (f"alice/{CH1}.ipynb", s),  # one folder per learner
        "bob": (f"bob_{CH1}.ipynb", e),
        "carol": (f"carol_{CH1}.ipynb", _replace(s, "q2-answer", SAME_SLIP[0])),
        "dave": (f"{CH1}-dave.ipynb", _replace(s, "q2-answer", SAME_SLIP[1])),
        "erin": (f"erin_{CH1}.ipynb", _with_cell(s, "import os\nos._exit(3)", "q1-check")),
        "frank": (f"frank_{CH1}.ipynb", _with_cell(s, "while True:\n    pass", "q1-check")),
        HOSTILE: (f"{HOSTILE}_{CH1}.ipynb", _replace(s, "q1-answer", raising)),
    }
    files = {}
    for sid, (name, nb) in notebooks.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / name)
        files[sid] = name
    (folder / f"zoe_{CH1}.ipynb").write_text(nbformat.writes(s)[:3000])  # cut short
    files["zoe"] = f"zoe_{CH1}.ipynb"
    return files


class Page(html.parser.HTMLParser):
    """The tables (by class: rows of cell texts, plus the caption) and SVG titles of a page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[dict]] = {}
        self.svg_titles: dict[str, list[str]] = {}
        self.tags: list[str] = []
        self._table = self._cell = self._svg = self._title = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "table":
            self._table = {"caption": "", "rows": []}
            self.tables.setdefault(attrs.get("class", ""), []).append(self._table)
        elif tag == "tr" and self._table is not None:
            self._table["rows"].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = [tag, ""]
            self._table["rows"][-1].append(self._cell)
        elif tag == "caption":
            self._cell = ["caption", ""]
        elif tag == "svg":
            self._svg = self.svg_titles.setdefault(attrs.get("class", ""), [])
        elif tag == "title" and self._svg is not None:
            self._title = [""]
            self._svg.append(self._title)

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "caption":
            self._table["caption"], self._cell = self._cell[1], None
        elif tag == "table":
            self._table = None
        elif tag == "svg":
            self._svg = None
        elif tag == "title":
            self._title = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data
        if self._title is not None:
            self._title[0] += data

    def body(self, table: dict) -> list[list[str]]:
        """A table's rows without its header row, as texts."""
        return [[text for _, text in row] for row in table["rows"] if row[0][0] == "td"]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    files = write_class(folder)
    out = folder.parent / "grades" / "results.csv"
    proc = _grade(folder, "--out", out, "--jobs", "2", "--cell-timeout", "2",
                  "--timeout", "60", "--memory-mb", "1024", *sandbox_args())
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    journal = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    text = (out.parent / class_report.SUMMARY).read_text(encoding="utf-8")
    by_id = {sid: next(r for r in rows if Path(r["submission"]) == folder / name)
             for sid, name in files.items()}
    return {"out": out, "rows": rows, "journal": journal, "html": text, "page": Page(text),
            "by_id": by_id, "folder": folder, "stdout": proc.stdout}


def test_the_class_is_graded_as_built(report):
    got = {sid: (r["status"], r["points"]) for sid, r in report["by_id"].items()}
    assert got == {"alice": ("ok", "4"), "bob": ("ok", "0"), "carol": ("ok", "2"),
                   "dave": ("ok", "2"), "erin": ("crashed", "4"), "frank": ("timeout", "4"),
                   HOSTILE: ("ok", "2"), "zoe": ("invalid", "0")}


def test_summary_and_canvas_files_are_written_beside_the_csv(report):
    folder = report["out"].parent
    for name in (class_report.SUMMARY, class_report.CANVAS):
        assert (folder / name).is_file()
        assert f"wrote {folder / name}" in report["stdout"]
    assert not list(folder.glob("*.tmp"))


def test_the_page_is_self_contained(report):
    text, page = report["html"], report["page"]
    # the only URLs are the SVG namespace names, which nothing fetches
    urls = re.findall(r"[a-z][a-z0-9+.-]*://[^\s\"'<>)]*", text, flags=re.I)
    assert set(urls) == {"http://www.w3.org/2000/svg"}, urls
    assert not re.search(r"""\b(?:src|href|srcset|action|poster|data)\s*=""", text, flags=re.I)
    assert not re.search(r"url\(|@import|@font-face", text, flags=re.I)
    assert not {"script", "link", "img", "iframe", "object", "embed", "image", "use",
                "base", "form"} & set(page.tags)
    assert "default-src 'none'" in text  # and the page says so to the browser


def test_status_counts_agree_with_the_csv(report):
    table = report["page"].tables["statuses"][0]
    shown = {status: int(n) for status, n in report["page"].body(table)}
    assert shown == Counter(r["status"] for r in report["rows"])
    assert shown == {"ok": 5, "crashed": 1, "timeout": 1, "invalid": 1}


def test_pass_rates_agree_with_the_csv_and_the_journal(report):
    graded = [r for r in report["rows"] if r["status"] in GRADED]
    table = report["page"].tables["questions"][0]
    body = report["page"].body(table)
    assert [cells[0] for cells in body] == ["joint_histogram", "conditional_density"]
    for name, points, passed, failed, todo, rate in body:
        assert int(passed) == sum(r[name] == points for r in graded)
        statuses = Counter(q["status"] for r in report["journal"] if r["status"] in GRADED
                           for q in r["questions"] if q["name"] == name)
        assert (int(passed), int(failed), int(todo)) == (
            statuses["PASS"], statuses["FAIL"], statuses["TODO"])
        assert rate == f"{100 * int(passed) / len(graded):.0f}%"
    assert [cells[2] for cells in body] == ["5", "4"]
    titles = report["page"].svg_titles["pass-rates"]
    assert [t[0] for t in titles] == ["joint_histogram: 5 of 7 passed",
                                      "conditional_density: 4 of 7 passed"]


def test_histogram_counts_are_the_scores_of_the_graded_submissions(report):
    graded = [r for r in report["rows"] if r["status"] in GRADED]
    bars = [re.fullmatch(r"(\S+) points: (\d+)", t[0]).groups()
            for t in report["page"].svg_titles["histogram"]]
    assert [label for label, _ in bars] == ["0", "1", "2", "3", "4"]
    assert {label: int(n) for label, n in bars} == {
        str(v): sum(int(r["points"]) == v for r in graded) for v in range(5)}
    assert sum(int(n) for _, n in bars) == len(graded) == 7
    assert "8 submission(s), 7 graded" not in report["html"]  # the invalid one has no chapter
    assert "7 submission(s), 7 graded" in report["html"]


def test_the_most_common_failure_reason_is_the_checks_message(report):
    failed = [q["reason"] for r in report["journal"] for q in r["questions"]
              if q["name"] == "conditional_density" and q["status"] == "FAIL"]
    assert len(failed) == 2  # carol and dave: the same slip, other numbers
    assert reason_key(failed[0]) == reason_key(failed[1]) and failed[0] != failed[1]
    tables = {t["caption"]: report["page"].body(t) for t in report["page"].tables["reasons"]}
    count, reason, example = tables["conditional_density (2 failed)"][0]
    assert (count, reason) == ("2", reason_key(failed[0])) and example in failed
    assert "values differ" in example


def test_the_slowest_list_is_sorted_and_matches_the_csv(report):
    body = report["page"].body(report["page"].tables["slowest"][0])
    seconds = [float(cells[2]) for cells in body]
    assert seconds == sorted(seconds, reverse=True)
    assert len(body) == min(class_report.SLOWEST, len(report["rows"]))
    by_submission = {r["submission"]: r for r in report["rows"]}
    for submission, status, shown, _message in body:
        assert by_submission[submission]["status"] == status
        assert shown == f"{float(by_submission[submission]['seconds']):.1f}"
    assert body[0][0] == report["by_id"]["frank"]["submission"]  # the loop that timed out


def test_names_and_messages_from_submissions_are_escaped(report):
    text, page = report["html"], report["page"]
    assert "<script" not in text.lower() and "<b>" not in text
    assert html_escape(HOSTILE) in text and html_escape(HOSTILE_MESSAGE) in text
    tables = {t["caption"]: page.body(t) for t in page.tables["reasons"]}
    examples = [row[2] for row in tables["joint_histogram (1 failed)"]]
    assert examples == [f"your function raised ValueError: {HOSTILE_MESSAGE} (line 2)"]
    shown = [row[0] for row in page.body(page.tables["slowest"][0])]
    assert report["by_id"][HOSTILE]["submission"] in shown


def html_escape(text: str) -> str:
    import html

    return html.escape(text, quote=True)


def test_canvas_file_has_one_row_per_learner_with_the_identifier_rule(report):
    with open(report["out"].parent / class_report.CANVAS, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns, rows = reader.fieldnames, list(reader)
    assert columns == ["student_id", CH1]
    assert [r["student_id"] for r in rows] == sorted(report["by_id"])
    for r in rows:
        graded = report["by_id"][r["student_id"]]
        assert r[CH1] == ("" if graded["status"] == "invalid" else graded["points"])


def test_feedback_stays_per_learner(report):
    paths = [Path(r["feedback"]) for r in report["rows"]]
    assert len(set(paths)) == len(paths) == 8
    names = {Path(r["submission"]).name for r in report["rows"]}
    for r, path in zip(report["rows"], paths):
        text = path.read_text(encoding="utf-8")
        mine = Path(r["submission"]).name
        assert f"Submission: {r['submission']}" in text
        assert not [n for n in names - {mine} if n in text and n not in mine]
    assert "summary" not in {p.stem for p in paths}


# ----------------------------------------------------------------------------- pieces

@pytest.mark.parametrize("key, expected", [
    (f"alice/{CH1}.ipynb", "alice"),
    (f"alice/week1/notes_{CH1}.ipynb", "alice"),
    (f"alice_{CH1}.ipynb", "alice"),
    (f"{CH1}-alice.ipynb", "alice"),
    (f"alice {CH1}.ipynb", "alice"),
    (f"alice_{CH1}_v2.ipynb", "alice_v2"),
    (f"{CH1}.ipynb", CH1),
    ("alice.ipynb", "alice"),
    ("alice\\" + f"{CH1}.ipynb", "alice"),
    (f"{CH1}/alice/notebook.ipynb", "alice"),  # a folder per chapter, then per learner
    (f"{CH1}/alice_{CH1}.ipynb", "alice"),
    (f"{CH1}/{CH1}.ipynb", CH1),
])
def test_student_id_rule(key, expected):
    assert student_id({"relative": key, "chapter": CH1}, [CH1]) == expected


def row(sid: str, chapter: str = CH1, points: float = 0, status: str = "ok", seconds=0.5,
        questions=()) -> dict:
    return {"submission": f"{sid}_{chapter}.ipynb", "relative": f"{sid}_{chapter}.ipynb",
            "chapter": chapter, "status": status, "points": points, "max_points": 4,
            "seconds": seconds, "message": "", "questions": list(questions)}


def test_canvas_keeps_the_best_submission_and_ignores_a_wrong_chapter_file():
    ch2 = "02_maximum_likelihood_and_kl"
    rows = [row("alice", points=2), {**row("alice", points=4), "submission": "alice_v2.ipynb",
                                     "relative": f"alice_{CH1}_v2.ipynb"},
            row("alice", points=3), row("bob", chapter=ch2, status="wrong_chapter"),
            {**row("carol", points=0, status="invalid"), "chapter": ""}]
    questions = {CH1: {}, ch2: {}}
    columns, canvas = class_report.canvas_rows(rows, questions)
    assert columns == ["student_id", CH1]  # bob's file of chapter 2 was not graded
    assert canvas == [{"student_id": "alice", CH1: "3"}, {"student_id": "alice_v2", CH1: "4"},
                      {"student_id": "bob"}, {"student_id": "carol"}]
    summary = class_report.summarize(rows, questions)
    assert summary["repeated"] == [f"alice ({CH1}: 2)"]
    page = class_report.render_html(summary, "t")
    assert f"{ch2}</h2>\n<p>1 submission(s), none graded" in page
    assert page.count('class="histogram"') == 1  # none for a chapter with nothing graded


def test_an_identifier_a_spreadsheet_would_run_is_written_as_text():
    rows = [row("=HYPERLINK(1)"), {**row("x"), "relative": f"@SUM(1)/{CH1}.ipynb"},
            row("alice")]
    _, canvas = class_report.canvas_rows(rows, {CH1: {}})
    assert [r["student_id"] for r in canvas] == ["'=HYPERLINK(1)", "'@SUM(1)", "alice"]


def test_every_score_falls_in_one_histogram_bin():
    for scores, top in [([0, 1.5, 2, 4, 4], 4), ([0, 7, 33.3, 50, 50], 50), ([], 4)]:
        rows = [row(f"l{i}", points=s) for i, s in enumerate(scores)]
        for r in rows:
            r["max_points"] = top
        bins = class_report.summarize(rows)["chapters"].get(CH1, {}).get("histogram", [])
        assert sum(b["count"] for b in bins) == len(scores)


def test_the_page_does_not_depend_on_the_order_the_submissions_finished():
    def failing(reason):
        return [{"name": "q", "status": "FAIL", "points": 0, "max_points": 2, "reason": reason}]

    rows = [row("a", status="timeout", seconds=2.0, questions=failing("got 1.5")),
            row("b", status="crashed", seconds=2.0, questions=failing("got 2.5")),
            row("c", seconds=1.0, questions=failing("got 2.5"))]
    pages = {class_report.render_html(class_report.summarize(order), "t")
             for order in (rows, rows[::-1], rows[1:] + rows[:1])}
    assert len(pages) == 1
    summary = class_report.summarize(rows)
    reason = summary["chapters"][CH1]["questions"][0]["reasons"][0]
    assert reason == {"reason": "got #", "count": 3, "example": "got 2.5"}
    assert list(summary["statuses"]) == ["ok", "timeout", "crashed"]


# ----------------------------------------------------------------------------- in a browser

@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Debian's Chromium driven by Playwright, as in test_site (skipped the same way)."""
    from test_site import CHROMIUM_ARGS, chromium_path

    executable = chromium_path()
    if executable is None:
        message = ("Chromium was not found, so the browser test of the class report did not "
                   "run (Debian/Ubuntu: `sudo apt-get install chromium`, or set CHROMIUM).")
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=executable,
            headless=True, args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 900})
        yield context
        context.close()


def test_the_page_renders_offline_in_a_browser(report, browser):
    page, requests, problems = browser.new_page(), [], []

    def route(r):
        requests.append(r.request.url)
        r.continue_() if r.request.url.startswith("file://") else r.abort()

    page.route("**/*", route)
    page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
    page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
    page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url}"))
    summary = report["out"].parent / class_report.SUMMARY
    try:
        page.goto(summary.as_uri(), wait_until="load")
        assert requests == [summary.as_uri()] and not problems, (requests, problems)
        bars = page.locator("svg.histogram rect.bar")
        assert bars.count() == 5
        box = page.locator("svg.histogram").bounding_box()
        assert box and box["width"] > 300 and box["height"] > 100
        tallest = max(bars.nth(i).bounding_box()["height"] for i in range(5))
        assert tallest > 50  # the bars are drawn, not collapsed
        for name in ("statuses", "questions", "reasons", "slowest"):
            table = page.locator(f"table.{name}").first
            assert table.is_visible() and table.locator("tbody tr").count() >= 1
        assert page.locator("table.slowest tbody tr").count() == 8
        assert page.locator("script").count() == 0
        text = page.inner_text("body")
        assert HOSTILE in text and HOSTILE_MESSAGE in text  # shown as text, never run
    finally:
        page.close()
