"""The class at a glance: ``summary.html`` and ``grades_canvas.csv`` beside the grades CSV.

``gm-course grade`` (and ``gm-course merge-grades``) call :func:`write_reports` at the end:

- ``summary.html``: one self-contained page (inline CSS and SVG, no script, no font or
  image from anywhere, so it opens offline and requests nothing): per chapter a histogram
  of the scores and each question's pass rate; the most common failure reasons of each
  question, grouped by the check's message with its numbers masked (``entry [3, 1] is
  0.27`` and ``entry [0, 2] is 0.31`` are one reason), with counts and one example; the
  number of submissions per status; the slowest submissions. Every string that comes from
  a submission (file names, messages) is HTML-escaped.
- ``grades_canvas.csv``: one row per learner, ``student_id`` then one column of points per
  chapter (the best submission when a learner has several; a ``wrong_chapter`` file gives
  no points, an ``invalid`` one of a known chapter 0), for a gradebook import.

The **student identifier** (:func:`student_id`) comes from the submission's path below the
folder that was graded (its *key*, see :mod:`gm_course.shards`):

1. in a subfolder (``submissions/alice/anything.ipynb``): the first folder's name, ``alice``
   (a course platform's download with one folder per learner); a folder named exactly as a
   chapter id is passed over (``submissions/01_density_by_counting/alice/x.ipynb`` gives
   ``alice``, ``submissions/01_density_by_counting/alice.ipynb`` goes on to rule 2);
2. otherwise the file name without ``.ipynb`` and without any chapter id, with the
   separators around it (``_ - . space``) trimmed: ``alice_01_density_by_counting.ipynb``
   and ``01_density_by_counting-alice.ipynb`` give ``alice``; where the chapter id stood
   between two parts, one ``_`` joins them (``alice_01_density_by_counting_v2`` ->
   ``alice_v2``);
3. if nothing is left (``01_density_by_counting.ipynb``), the file name without ``.ipynb``.

An identifier that a spreadsheet would take for a formula (starting with ``= + - @``, a tab
or a carriage return) gets a leading ``'`` in ``grades_canvas.csv``, so that opening the file
runs nothing.

The numbers (:func:`summarize`) are computed apart from the page (:func:`render_html`).
"""

from __future__ import annotations

import csv
import html
import os
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path, PurePosixPath

from .batch import STATUSES  # their order orders equal counts on the page

SUMMARY, CANVAS = "summary.html", "grades_canvas.csv"
TOP_REASONS, SLOWEST = 5, 10
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")
_SEPARATORS = "_-. "


# ----------------------------------------------------------------------------- the numbers

def student_id(row: dict, chapters=()) -> str:
    """The learner's identifier from the submission's key (rule in the module docstring)."""
    key = row.get("relative") or Path(str(row.get("submission", ""))).name
    parts = PurePosixPath(str(key).replace("\\", "/")).parts
    known = {*chapters, row.get("chapter") or ""} - {""}
    folders = [p for p in parts[:-1] if p not in known]  # a folder per chapter names no one
    if folders:
        return folders[0]
    name = parts[-1] if parts else ""
    stem = name[: -len(".ipynb")] if name.lower().endswith(".ipynb") else name
    cleaned = stem
    for chapter in sorted(known, key=len, reverse=True):
        if chapter:
            cleaned = cleaned.replace(chapter, "\0")
    # where a chapter id stood between two parts, one "_" joins them
    cleaned = re.sub(r"[_\-. ]*\0[_\-. ]*", "_", cleaned).strip(_SEPARATORS)
    return cleaned or stem


def reason_key(reason: str) -> str:
    """A failure reason with its numbers masked, so that one mistake is one group."""
    return _NUMBER.sub("#", reason.strip())


def _bins(scores: list[float], max_points: float) -> list[dict]:
    """One bin per integer point 0..max when max <= 20 and every score is whole, else ten
    equal bins (the last one closed), so that every score falls in exactly one bin."""
    whole = all(float(s).is_integer() for s in scores)
    if max_points <= 20 and float(max_points).is_integer() and whole:
        edges = [(v, v) for v in range(int(max_points) + 1)]
        labels = [str(v) for v in range(int(max_points) + 1)]
        counts = [sum(1 for s in scores if s == v) for v in range(int(max_points) + 1)]
    else:
        width = max_points / 10 if max_points > 0 else 1.0
        edges = [(i * width, (i + 1) * width) for i in range(10)]
        labels = [f"{lo:g}-{hi:g}" for lo, hi in edges]
        counts = [0] * 10
        for s in scores:
            counts[min(9, max(0, int(s // width)))] += 1
    return [{"label": label, "low": lo, "high": hi, "count": c}
            for label, (lo, hi), c in zip(labels, edges, counts)]


def _most_common(texts: list[str]) -> str:
    """The most frequent text (the first in sorted order among equals): one example that does
    not depend on the order in which the submissions finished."""
    return min(Counter(texts).items(), key=lambda kv: (-kv[1], kv[0]))[0]


def summarize(rows: list[dict], questions: dict | None = None) -> dict:
    """Everything the page shows, as plain data.

    Args:
        rows: the grader's rows (journal rows: ``submission``, ``chapter``, ``status``,
            ``points``, ``max_points``, ``seconds``, ``questions`` with ``name``, ``status``,
            ``points``, ``max_points``, ``reason``; ``relative`` when known).
        questions: ``{chapter: {name: ...}}`` to order the questions (optional).
    """
    questions = questions or {}
    statuses = Counter(r.get("status", "") for r in rows)
    rank = {s: i for i, s in enumerate(STATUSES)}
    chapters = {}
    for chapter in sorted({r.get("chapter") or "" for r in rows} - {""}):
        mine = [r for r in rows if r.get("chapter") == chapter]
        graded = [r for r in mine if r.get("status") not in ("invalid", "wrong_chapter")]
        order = list(questions.get(chapter, {}))
        order += [q["name"] for r in mine for q in r.get("questions", []) if q["name"] not in order]
        per_question = []
        for name in dict.fromkeys(order):
            results = [q for r in graded for q in r.get("questions", []) if q["name"] == name]
            if not results:
                continue
            failed = [q for q in results if q.get("status") == "FAIL"]
            groups: dict[str, list[str]] = defaultdict(list)
            for q in failed:
                groups[reason_key(str(q.get("reason", "")))].append(str(q.get("reason", "")))
            top = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:TOP_REASONS]
            per_question.append({
                "name": name, "max_points": max(q.get("max_points", 0) for q in results),
                "submissions": len(results),
                "passed": sum(q.get("status") == "PASS" for q in results),
                "failed": len(failed),
                "not_attempted": sum(q.get("status") == "TODO" for q in results),
                "pass_rate": sum(q.get("status") == "PASS" for q in results) / len(results),
                "reasons": [{"reason": key, "count": len(v), "example": _most_common(v)}
                            for key, v in top],
                "other_reasons": len(groups) - len(top),
            })
        scores = [float(r.get("points", 0)) for r in graded]
        max_points = max((float(r.get("max_points", 0)) for r in graded), default=0.0)
        chapters[chapter] = {
            "submissions": len(mine), "graded": len(graded), "max_points": max_points,
            "mean": statistics.fmean(scores) if scores else None,
            "median": statistics.median(scores) if scores else None,
            "full_marks": sum(s == max_points for s in scores) if max_points else 0,
            "histogram": _bins(scores, max_points), "questions": per_question,
        }
    timed = sorted((r for r in rows if r.get("seconds") is not None),
                   key=lambda r: (-float(r.get("seconds", 0)), str(r.get("submission", ""))))[:SLOWEST]
    slowest = [{"submission": str(r.get("submission", "")), "status": r.get("status", ""),
                "seconds": float(r.get("seconds", 0)), "message": str(r.get("message", ""))}
               for r in timed]
    ids = Counter((student_id(r, questions), r.get("chapter") or "") for r in rows)
    return {"submissions": len(rows), "statuses": dict(sorted(statuses.items(), key=lambda kv: (-kv[1], rank.get(kv[0], len(rank)), kv[0]))),
            "chapters": chapters, "slowest": slowest,
            "students": len({s for s, _ in ids}),
            "repeated": sorted(f"{s} ({c or 'no chapter'}: {n})" for (s, c), n in ids.items() if n > 1)}


def _graded_chapter(row: dict, questions: dict) -> str:
    """The chapter a row gives points in: none for ``wrong_chapter`` (the notebook of another
    chapter than ``--chapter`` was not graded) or a chapter without graded questions."""
    chapter = row.get("chapter") or ""
    if row.get("status") == "wrong_chapter" or (questions and chapter not in questions):
        return ""
    return chapter


def _no_formula(text: str) -> str:
    """A cell a spreadsheet shows as text: a leading ``'`` before ``= + - @``, tab or CR."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def canvas_rows(rows: list[dict], questions: dict | None = None) -> tuple[list[str], list[dict]]:
    """``(columns, rows)`` of ``grades_canvas.csv``: ``student_id``, one points column per chapter."""
    questions = questions or {}
    best: dict[str, dict[str, float]] = defaultdict(dict)
    chapters = sorted({c for r in rows if (c := _graded_chapter(r, questions))})
    for r in rows:
        sid, chapter = student_id(r, questions), _graded_chapter(r, questions)
        best[sid]  # a learner whose only file was unreadable still gets a row
        if chapter:
            points = float(r.get("points", 0))
            best[sid][chapter] = max(points, best[sid].get(chapter, points))
    out = [{"student_id": _no_formula(sid), **{c: f"{v:g}" for c, v in marks.items()}}
           for sid, marks in sorted(best.items())]
    return ["student_id", *chapters], out


# ----------------------------------------------------------------------------- the page

def _e(value) -> str:
    return html.escape(str(value), quote=True)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:60rem;
padding:0 1rem;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2.2rem;border-bottom:1px solid #ccc}h3{font-size:1.05rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.92rem}
th,td{border:1px solid #d0d0d0;padding:.25rem .55rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:.88em;word-break:break-all}.muted{color:#555}svg{max-width:100%;height:auto}
.bar{fill:#0072B2}.pass{fill:#009E73}.rest{fill:#e6e6e6}svg text{font-size:12px;fill:#1a1a1a}
"""


def _histogram_svg(chapter: str, bins: list[dict]) -> str:
    width, height, left, bottom, top = 640, 230, 40, 40, 16
    top_count = max([b["count"] for b in bins] + [1])
    slot = (width - left - 10) / max(1, len(bins))
    plot_h = height - top - bottom
    parts = [f'<svg class="histogram" role="img" viewBox="0 0 {width} {height}" width="{width}" '
             f'height="{height}" xmlns="http://www.w3.org/2000/svg" aria-label="{_e("Histogram of the scores of " + chapter)}">',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#1a1a1a"/>']
    for i, b in enumerate(bins):
        h = plot_h * b["count"] / top_count
        x = left + i * slot + slot * 0.1
        parts.append(f'<rect class="bar" x="{x:.1f}" y="{height - bottom - h:.1f}" width="{slot * 0.8:.1f}" '
                     f'height="{h:.1f}"><title>{_e(b["label"])} points: {b["count"]}</title></rect>')
        parts.append(f'<text x="{x + slot * 0.4:.1f}" y="{height - bottom + 16}" text-anchor="middle">{_e(b["label"])}</text>')
        if b["count"]:
            parts.append(f'<text x="{x + slot * 0.4:.1f}" y="{height - bottom - h - 4:.1f}" '
                         f'text-anchor="middle">{b["count"]}</text>')
    parts.append(f'<text x="{left + (width - left) / 2:.0f}" y="{height - 6}" text-anchor="middle">points</text>')
    parts.append(f'<text x="12" y="{top + plot_h / 2:.0f}" transform="rotate(-90 12 {top + plot_h / 2:.0f})" '
                 'text-anchor="middle">submissions</text></svg>')
    return "".join(parts)


def _pass_rate_svg(chapter: str, per_question: list[dict]) -> str:
    row_h, label_w, bar_w = 26, 230, 330
    height = row_h * len(per_question) + 10
    parts = [f'<svg class="pass-rates" role="img" viewBox="0 0 {label_w + bar_w + 70} {height}" '
             f'width="{label_w + bar_w + 70}" height="{height}" xmlns="http://www.w3.org/2000/svg" '
             f'aria-label="{_e("Pass rate of each question of " + chapter)}">']
    for i, q in enumerate(per_question):
        y = 5 + i * row_h
        parts.append(f'<text x="{label_w - 8}" y="{y + 16}" text-anchor="end">{_e(q["name"])}</text>')
        parts.append(f'<rect class="rest" x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 8}"/>')
        parts.append(f'<rect class="pass" x="{label_w}" y="{y + 3}" width="{bar_w * q["pass_rate"]:.1f}" '
                     f'height="{row_h - 8}"><title>{_e(q["name"])}: {q["passed"]} of {q["submissions"]} passed'
                     '</title></rect>')
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 16}">{100 * q["pass_rate"]:.0f}%</text>')
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}".rstrip("0").rstrip(".")


def render_html(summary: dict, title: str) -> str:
    """The page for :func:`summarize`'s data; every learner-controlled string escaped."""
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           # nothing may load from anywhere, and nothing may run
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
           "style-src 'unsafe-inline'; img-src data:\">",
           f"<title>{_e(title)}</title><style>{CSS}</style></head><body>",
           f"<h1>{_e(title)}</h1>",
           f'<p>{summary["submissions"]} submission(s) from {summary["students"]} learner(s) '
           '(identifiers as in <code>grades_canvas.csv</code>).</p>']
    if summary["repeated"]:
        out.append("<p class=\"muted\">Learners with several submissions of one chapter (the best one "
                   "counts in grades_canvas.csv): " + _e(", ".join(summary["repeated"])) + "</p>")
    out.append('<h2 id="statuses">Statuses</h2><table class="statuses"><thead><tr><th>status</th>'
               '<th>submissions</th></tr></thead><tbody>')
    out += [f'<tr><td>{_e(s)}</td><td class="num">{n}</td></tr>' for s, n in summary["statuses"].items()]
    out.append("</tbody></table>")
    for chapter, ch in summary["chapters"].items():
        out.append(f'<h2 id="{_e("chapter-" + chapter)}">{_e(chapter)}</h2>')
        if not ch["graded"]:  # e.g. only wrong_chapter files: nothing to plot
            out.append(f'<p>{ch["submissions"]} submission(s), none graded (see the statuses).</p>')
            continue
        out.append(f'<p>{ch["submissions"]} submission(s), {ch["graded"]} graded; mean {_fmt(ch["mean"])}, '
                   f'median {_fmt(ch["median"])} of {_fmt(ch["max_points"])} points; '
                   f'{ch["full_marks"]} with full marks.</p>')
        out.append("<h3>Scores</h3>" + _histogram_svg(chapter, ch["histogram"]))
        out.append("<h3>Pass rate per question</h3>" + _pass_rate_svg(chapter, ch["questions"]))
        out.append('<table class="questions"><thead><tr><th>question</th><th>points</th><th>passed</th>'
                   "<th>failed</th><th>not attempted</th><th>pass rate</th></tr></thead><tbody>")
        out += [f'<tr><td><code>{_e(q["name"])}</code></td><td class="num">{_fmt(q["max_points"])}</td>'
                f'<td class="num">{q["passed"]}</td><td class="num">{q["failed"]}</td>'
                f'<td class="num">{q["not_attempted"]}</td><td class="num">{100 * q["pass_rate"]:.0f}%</td></tr>'
                for q in ch["questions"]]
        out.append("</tbody></table><h3>Most common failure reasons</h3>")
        any_reason = False
        for q in ch["questions"]:
            if not q["reasons"]:
                continue
            any_reason = True
            out.append(f'<table class="reasons"><caption><code>{_e(q["name"])}</code> '
                       f'({q["failed"]} failed)</caption><thead><tr><th>count</th><th>reason (numbers as #)</th>'
                       "<th>one example</th></tr></thead><tbody>")
            out += [f'<tr><td class="num">{r["count"]}</td><td>{_e(r["reason"])}</td><td>{_e(r["example"])}</td></tr>'
                    for r in q["reasons"]]
            if q["other_reasons"]:
                out.append(f'<tr><td class="num" colspan="3">and {q["other_reasons"]} other reason(s)</td></tr>')
            out.append("</tbody></table>")
        if not any_reason:
            out.append("<p>No question failed.</p>")
    out.append('<h2 id="slowest">Slowest submissions</h2><table class="slowest"><thead><tr><th>submission</th>'
               "<th>status</th><th>seconds</th><th>message</th></tr></thead><tbody>")
    out += [f'<tr><td><code>{_e(r["submission"])}</code></td><td>{_e(r["status"])}</td>'
            f'<td class="num">{r["seconds"]:.1f}</td><td>{_e(r["message"])}</td></tr>' for r in summary["slowest"]]
    out.append("</tbody></table><p class=\"muted\">Written by <code>gm-course</code>; the feedback of each "
               "learner is in its own file (the CSV's <code>feedback</code> column).</p></body></html>")
    return "\n".join(out) + "\n"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.replace(tmp, path)


def write_reports(out_csv: Path, rows: list[dict], questions: dict | None = None) -> list[Path]:
    """Write ``summary.html`` and ``grades_canvas.csv`` beside ``out_csv``; return their paths."""
    out_csv = Path(out_csv)
    folder = out_csv.parent
    folder.mkdir(parents=True, exist_ok=True)
    summary = summarize(rows, questions)
    chapters = ", ".join(summary["chapters"]) or "no graded chapter"
    page = render_html(summary, f"Class report: {out_csv.name} ({chapters})")
    _atomic_write(folder / SUMMARY, page)
    columns, canvas = canvas_rows(rows, questions)
    tmp = folder / (CANVAS + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(canvas)
    os.replace(tmp, folder / CANVAS)
    return [folder / SUMMARY, folder / CANVAS]
