"""``gm-course grade --shard K/N`` and ``gm-course merge-grades``.

A small class of chapter 1 is graded whole and as shards 1/2 and 2/2, and the shards are
merged; the merge must give the whole run's rows and class report. Then copies of the
shards' files are broken in the ways a batch job can break them (a shard missing, given
twice, interrupted, a submission in two shards, another split) and the merge must refuse,
saying why, with a non-zero exit status.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from gm_course import batch, class_report, cli, shards
from test_batch_grading import CH1, _grade, _nb, _replace
from test_class_report import Page, sandbox_args

COMPARED = ("submission", "chapter", "status", "points", "max_points", "joint_histogram",
            "conditional_density", "message", "sha256")
# file below the class folder -> its shard of 2 (fixed: the split is a hash of this key)
CLASS = {f"amy/{CH1}.ipynb": 1, f"ben/{CH1}.ipynb": 1, f"dan_{CH1}.ipynb": 1,
         f"cleo_{CH1}.ipynb": 2, f"eve_{CH1}.ipynb": 2}


def _csv(path: Path) -> dict[str, dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return {r["submission"]: r for r in csv.DictReader(f)}


def _copy_shard(csv_path: Path, folder: Path, stem: str) -> Path:
    """The CSV, journal and manifest of a shard, copied under another name."""
    folder.mkdir(parents=True, exist_ok=True)
    for suffix in (".csv", ".jsonl", ".shard.json"):
        shutil.copy(csv_path.with_suffix(suffix), folder / f"{stem}{suffix}")
    return folder / f"{stem}.csv"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    s, e = _nb("solutions"), _nb("exercises")
    slip = _replace(s, "q2-answer", "def conditional_density(joint, dy):\n    return joint")
    notebooks = {f"amy/{CH1}.ipynb": s, f"ben/{CH1}.ipynb": e, f"cleo_{CH1}.ipynb": slip,
                 f"eve_{CH1}.ipynb": s}
    for name, nb in notebooks.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / name)
    (folder / f"dan_{CH1}.ipynb").write_text(nbformat.writes(s)[:2000])
    out = folder.parent / "out"
    args = ["--jobs", "1", "--cell-timeout", "20", "--timeout", "60", *sandbox_args()]
    _grade(folder, "--out", out / "whole" / "results.csv", *args)
    logs = [_grade(folder, "--out", out / "shards" / f"s{k}.csv", "--shard", f"{k}/2", *args).stdout
            for k in (1, 2)]
    merged = out / "merged" / "all.csv"
    assert cli.main(["merge-grades", str(merged), str(out / "shards")]) == 0
    return {"folder": folder, "out": out, "whole": out / "whole" / "results.csv",
            "shards": [out / "shards" / "s1.csv", out / "shards" / "s2.csv"],
            "merged": merged, "logs": logs}


def test_merging_the_shards_gives_the_whole_run(graded):
    whole, merged = _csv(graded["whole"]), _csv(graded["merged"])
    assert set(whole) == set(merged) == {str(graded["folder"] / name) for name in CLASS}
    for submission, row in whole.items():
        assert {c: merged[submission][c] for c in COMPARED} == {c: row[c] for c in COMPARED}
    journal = graded["merged"].with_suffix(".jsonl").read_text().splitlines()
    assert len(journal) == len(CLASS)
    feedback = [Path(r["feedback"]) for r in merged.values()]
    assert len(set(feedback)) == len(CLASS) and all(p.is_file() for p in feedback)
    assert all(p.parent == graded["merged"].with_name("all_feedback") for p in feedback)


def test_the_merge_writes_the_class_report_of_the_whole_run(graded):
    whole, merged = graded["whole"].parent, graded["merged"].parent
    for name in (class_report.SUMMARY, class_report.CANVAS):
        assert (merged / name).is_file()
    canvas = (merged / class_report.CANVAS).read_text()
    assert canvas == (whole / class_report.CANVAS).read_text()
    assert canvas.splitlines()[0] == f"student_id,{CH1}"
    assert [line.split(",")[0] for line in canvas.splitlines()[1:]] == [
        "amy", "ben", "cleo", "dan", "eve"]
    pages = [Page((f / class_report.SUMMARY).read_text()) for f in (whole, merged)]
    for table in ("statuses", "questions", "reasons"):
        assert [pages[0].body(t) for t in pages[0].tables[table]] == [
            pages[1].body(t) for t in pages[1].tables[table]]
    assert pages[0].svg_titles == pages[1].svg_titles  # histogram and pass rates
    # a shard writes no report of its own: it would describe part of the class
    assert not (graded["shards"][0].parent / class_report.SUMMARY).exists()
    assert "merge-grades" in graded["logs"][0]


def test_every_submission_lands_in_exactly_one_shard(graded):
    seen = {}
    for k, path in enumerate(graded["shards"], start=1):
        manifest = json.loads(path.with_suffix(".shard.json").read_text())
        assert (manifest["shard"], manifest["of"], manifest["finished"]) == (k, 2, True)
        for file, key in manifest["submissions"].items():
            assert key not in seen and Path(file) == (graded["folder"] / key).resolve()
            seen[key] = k
        assert set(_csv(path)) == {str(graded["folder"] / key)
                                   for key, s in CLASS.items() if s == k}
    assert seen == CLASS


def test_the_split_is_a_stable_hash_of_the_path_below_the_folder(tmp_path):
    files = []
    for i in range(30):
        path = tmp_path / "class" / f"learner{i:02d}" / f"{CH1}.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text("{}")
        files.append(path)
    keys = shards.submission_keys([tmp_path / "class"], files)
    assert keys[files[3]] == f"learner03/{CH1}.ipynb"
    for n in (1, 3):
        chosen = []
        for k in range(1, n + 1):
            settings = batch.Settings(out=tmp_path / f"s{k}of{n}.csv", shard=(k, n))
            chosen += shards.select([tmp_path / "class"], files, settings)[0]
        assert sorted(chosen) == sorted(files)  # each file once
    for key in keys.values():  # SHA-256 of the key, the same on every machine
        digest = hashlib.sha256(key.encode()).hexdigest()
        assert shards.shard_of(key, 3) == int(digest[:16], 16) % 3 + 1
    assert shards.shard_of(f"learner03/{CH1}.ipynb", 3) == 2  # pinned: never changes
    # where the folder is mounted does not matter, only the path below it
    moved = shutil.copytree(tmp_path / "class", tmp_path / "elsewhere" / "class")
    moved_files = [moved / f.relative_to(tmp_path / "class") for f in files]
    assert list(shards.submission_keys([moved], moved_files).values()) == list(keys.values())


# ----------------------------------------------------------------------------- refusals

def _merge(capsys, out: Path, *inputs) -> tuple[int, str]:
    code = cli.main(["merge-grades", str(out), *map(str, inputs)])
    captured = capsys.readouterr()
    assert not out.exists() or code == 0
    return code, captured.err


def test_merge_refuses_a_missing_shard(graded, capsys, tmp_path):
    code, err = _merge(capsys, tmp_path / "m.csv", graded["shards"][0])
    assert code == 2 and "gm-course merge-grades: missing shard(s) 2/2: 1 of 2 given" in err


def test_merge_refuses_a_shard_given_twice(graded, capsys, tmp_path):
    again = _copy_shard(graded["shards"][0], tmp_path / "again", "s1_rerun")
    code, err = _merge(capsys, tmp_path / "m.csv", *graded["shards"], again)
    assert code == 2 and "shard 1/2 is given twice" in err
    # naming the same shard's files twice (its CSV and its folder) is one shard, not two
    code, _ = _merge(capsys, tmp_path / "ok.csv", graded["shards"][0],
                     graded["shards"][0].parent)
    assert code == 0 and len(_csv(tmp_path / "ok.csv")) == len(CLASS)


def test_merge_refuses_an_unfinished_shard(graded, capsys, tmp_path):
    copy = _copy_shard(graded["shards"][1], tmp_path / "copy", "s2")
    # what `grade --shard 2/2` writes when it starts: the shard is unfinished until it ends
    files, _ = batch.find_submissions([graded["folder"]])
    shards.select([graded["folder"]], files, batch.Settings(out=copy, shard=(2, 2)))
    code, err = _merge(capsys, tmp_path / "m.csv", graded["shards"][0], copy)
    assert code == 2 and "shard 2/2 did not finish; run the same command again" in err


def test_merge_refuses_a_shard_without_all_its_results(graded, capsys, tmp_path):
    copy = _copy_shard(graded["shards"][1], tmp_path / "copy", "s2")
    journal = copy.with_suffix(".jsonl")
    journal.write_text(journal.read_text().splitlines()[0] + "\n")  # one row of two
    code, err = _merge(capsys, tmp_path / "m.csv", graded["shards"][0], copy)
    assert code == 2 and "shard 2/2 has no result for 1 submission(s)" in err


def test_merge_refuses_a_submission_in_two_shards(graded, capsys, tmp_path):
    copy = _copy_shard(graded["shards"][1], tmp_path / "copy", "s2")
    first = json.loads(graded["shards"][0].with_suffix(".shard.json").read_text())
    path, key = next(iter(first["submissions"].items()))
    manifest = copy.with_suffix(".shard.json")
    data = json.loads(manifest.read_text())
    data["submissions"][path] = key
    manifest.write_text(json.dumps(data))
    row = batch.load_journal(graded["shards"][0].with_suffix(".jsonl"))[path]
    batch.append_journal(copy.with_suffix(".jsonl"), row)
    code, err = _merge(capsys, tmp_path / "m.csv", graded["shards"][0], copy)
    assert code == 2 and f"{key} is in two shards" in err


def test_merge_refuses_shards_of_different_splits(graded, capsys, tmp_path):
    copy = _copy_shard(graded["shards"][0], tmp_path / "copy", "s1of3")
    manifest = copy.with_suffix(".shard.json")
    manifest.write_text(manifest.read_text().replace('"of": 2', '"of": 3'))
    code, err = _merge(capsys, tmp_path / "m.csv", *graded["shards"], copy)
    assert code == 2 and "shards of different splits cannot be merged (N = [2, 3])" in err


def test_merge_refuses_to_overwrite_a_shards_own_results(graded, capsys, tmp_path):
    copies = [_copy_shard(p, tmp_path / "copy", p.stem) for p in graded["shards"]]
    before = copies[0].with_suffix(".jsonl").read_text()
    code, err = _merge(capsys, tmp_path / "nothing.csv", *copies)
    assert code == 0
    code = cli.main(["merge-grades", str(copies[0]), *map(str, copies)])
    assert code == 2 and "where shard 1/2 keeps its results" in capsys.readouterr().err
    assert copies[0].with_suffix(".jsonl").read_text() == before


@pytest.mark.parametrize("given, why", [("0/2", "K must be between 1 and N"),
                                        ("3/2", "K must be between 1 and N"),
                                        ("x", "expected K/N"), ("", "expected K/N"),
                                        ("1/0", "N, the number of shards, must be at least 1")])
def test_a_bad_shard_is_a_clear_error(given, why, capsys, tmp_path):
    code = cli.main(["grade", str(tmp_path), "--out", str(tmp_path / "r.csv"), "--shard", given])
    err = capsys.readouterr().err
    assert code == 2 and f"gm-course grade: --shard {given!r}: {why}" in err
    assert not (tmp_path / "r.csv").exists()


def test_merge_refuses_shards_that_saw_different_classes(graded, capsys, tmp_path):
    copy = _copy_shard(graded["shards"][1], tmp_path / "copy", "s2")
    # shard 2/2 started again after a late file (of shard 1) had come in
    files, _ = batch.find_submissions([graded["folder"]])
    late = graded["folder"] / f"fay_{CH1}.ipynb"
    assert shards.shard_of(late.name, 2) == 1
    shards.select([graded["folder"]], files + [late], batch.Settings(out=copy, shard=(2, 2)))
    manifest = copy.with_suffix(".shard.json")
    data = json.loads(manifest.read_text())
    assert data["class"]["submissions"] == len(CLASS) + 1
    manifest.write_text(json.dumps({**data, "finished": True}))  # and ran to the end
    code, err = _merge(capsys, tmp_path / "m.csv", graded["shards"][0], copy)
    assert code == 2 and "the shards did not see the same class" in err
    assert "shard 1/2: 5, shard 2/2: 6" in err


def test_merge_refuses_shards_that_do_not_add_up_to_their_class(graded, capsys, tmp_path):
    copy = _copy_shard(graded["shards"][1], tmp_path / "copy", "s2")
    manifest = copy.with_suffix(".shard.json")
    data = json.loads(manifest.read_text())
    data["submissions"] = dict(list(data["submissions"].items())[:1])  # one was dropped
    manifest.write_text(json.dumps(data))
    code, err = _merge(capsys, tmp_path / "m.csv", graded["shards"][0], copy)
    assert code == 2 and "the shards hold 4 submission(s) of a class of 5" in err
