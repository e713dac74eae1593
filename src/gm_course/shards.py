"""Splitting one class over several machines: ``gm-course grade --shard K/N`` and ``merge-grades``.

A batch scheduler (a Slurm job array, a Kubernetes Indexed Job) starts N copies of the same
``gm-course grade`` command, each with its own ``--shard K/N`` (K = 1..N) and its own
``--out``. Each copy grades only the submissions whose **key** falls in its shard:

- the key of a submission is its path below the folder named on the command line, with ``/``
  between parts (``alice/01_density_by_counting.ipynb``), or its file name when the file
  itself was named; so the split does not depend on where the folder is mounted;
- the shard of a key is ``int(sha256(key)[:16], 16) % N + 1``: stable across machines,
  Python versions and runs, and close to even over a class.

Beside its CSV each shard writes ``<out>.shard.json`` (which shard, of how many, which
chapter, the key and path of every submission it selected, how many submissions the whole
class had and a SHA-256 of their keys, and whether it finished).
``gm-course merge-grades OUT.csv SHARD_FILES_OR_FOLDERS...`` reads those manifests and the
shards' journals, refuses a merge that would be wrong (a missing, repeated or unfinished
shard, shards of different N or chapters, shards that saw different classes because files
were added or removed between their runs, a submission in two shards), then writes the
merged CSV, its journal, one feedback file per learner and the class report
(:mod:`gm_course.class_report`), as one unsharded run would have.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Callable

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class MergeError(ValueError):
    """Shard results that cannot be merged into one class (the message says why)."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"3/8"`` -> ``(3, 8)``; a clear ``ValueError`` unless ``1 <= K <= N``."""
    match = _SHARD.match(str(text))
    if not match:
        raise ValueError(f"--shard {text!r}: expected K/N, e.g. 3/8")
    k, n = int(match[1]), int(match[2])
    if n < 1:
        raise ValueError(f"--shard {text!r}: N, the number of shards, must be at least 1")
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text!r}: K must be between 1 and N (shards are numbered from 1)")
    return k, n


def shard_of(key: str, n: int) -> int:
    """The shard (1..n) of a submission key; stable everywhere (SHA-256, not ``hash()``)."""
    return int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:16], 16) % n + 1


def submission_keys(paths, files) -> dict[Path, str]:
    """``{file: key}``: each file's path below the first named folder holding it, else its name."""
    folders = [Path(p) for p in paths if Path(p).is_dir()]
    keys = {}
    for f in files:
        key = f.name
        for folder in folders:
            try:
                key = f.relative_to(folder).as_posix()
                break
            except ValueError:
                continue
        keys[f] = key
    return keys


def class_digest(keys) -> str:
    """SHA-256 of a class's submission keys (sorted, one per line): the same for every shard
    that saw the same files."""
    return hashlib.sha256("\n".join(sorted(keys)).encode("utf-8")).hexdigest()


def manifest_path(out: Path) -> Path:
    return Path(out).with_suffix(".shard.json")


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def select(paths, files, settings) -> tuple[list[Path], dict[Path, str]]:
    """The files this run grades and their keys (all of them without ``settings.shard``).

    With a shard, also (re)writes the manifest as unfinished: a merge refuses a shard that
    was interrupted until it has been run again to the end."""
    keys = submission_keys(paths, files)
    shard = getattr(settings, "shard", None)
    if not shard:
        return list(files), keys
    k, n = shard
    chosen = [f for f in files if shard_of(keys[f], n) == k]
    Path(settings.out).parent.mkdir(parents=True, exist_ok=True)
    _write_json(manifest_path(settings.out), {
        "shard": k, "of": n, "chapter": settings.chapter or "", "finished": False,
        "class": {"submissions": len(keys), "sha256": class_digest(keys.values())},
        "submissions": {str(f.resolve()): keys[f] for f in chosen}})
    return chosen, {f: keys[f] for f in chosen}


def finish(settings, rows: list[dict], questions: dict, files, log: Callable[[str], None] = print) -> None:
    """End of a ``grade`` run: mark a shard finished, or write the class report."""
    shard = getattr(settings, "shard", None)
    if shard:
        path = manifest_path(settings.out)
        data = json.loads(path.read_text(encoding="utf-8"))
        data["finished"] = True
        _write_json(path, data)
        log(f"shard {shard[0]}/{shard[1]}: {len(files)} submission(s); "
            "`gm-course merge-grades` joins the shards and writes the class report")
        return
    from .class_report import write_reports

    for path in write_reports(settings.out, rows, questions):
        log(f"wrote {path}")


# ----------------------------------------------------------------------------- merging

def _manifests(inputs) -> list[Path]:
    found = []
    for given in map(Path, inputs):
        if given.is_dir():
            inside = sorted(given.glob("*.shard.json"))
            if not inside:
                raise MergeError(f"{given}: no shard results (*.shard.json) in this folder")
            found += inside
        elif given.name.endswith(".shard.json"):
            found.append(given)
        elif given.suffix in (".csv", ".jsonl"):
            found.append(manifest_path(given))
        else:
            raise MergeError(f"{given}: not a shard's CSV, journal or .shard.json, nor a folder")
    for path in found:
        if not path.exists():
            raise MergeError(f"{path}: missing; was this CSV written by `gm-course grade --shard K/N`?")
    return list(dict.fromkeys(p.resolve() for p in found))


def _journal_of(manifest: Path) -> Path:
    return manifest.with_name(manifest.name[: -len(".shard.json")] + ".jsonl")


def load_shards(inputs) -> list[dict]:
    """The rows of every shard named, checked to form exactly one whole class.

    The manifests are all read first, so that the message names the real problem: shards of
    different splits or chapters, then a shard given twice, a missing shard, an unfinished
    one, a shard without a result for one of its submissions, a submission in two shards."""
    from .batch import load_journal

    infos = []
    for path in _manifests(inputs):
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
            k, n, wanted = int(info["shard"]), int(info["of"]), dict(info["submissions"])
        except (ValueError, KeyError, TypeError) as err:
            raise MergeError(f"{path}: not a readable shard manifest ({err})") from None
        seen = info.get("class") if isinstance(info.get("class"), dict) else {}
        infos.append({"path": path, "shard": k, "of": n, "chapter": str(info.get("chapter") or ""),
                      "finished": bool(info.get("finished")), "wanted": wanted,
                      "class": (seen.get("submissions"), seen.get("sha256")) if seen else None})
    if not infos:
        raise MergeError("no shard results given")
    counts = {i["of"] for i in infos}
    if len(counts) > 1:
        raise MergeError(f"shards of different splits cannot be merged (N = {sorted(counts)})")
    chapters = {i["chapter"] for i in infos}
    if len(chapters) > 1:
        raise MergeError(f"shards graded with different --chapter values: {sorted(chapters)}")
    classes = {i["class"] for i in infos if i["class"]}
    if len(classes) > 1:
        sizes = ", ".join(f"shard {i['shard']}/{i['of']}: {i['class'][0]}" for i in
                          sorted(infos, key=lambda i: i["shard"]) if i["class"])
        raise MergeError("the shards did not see the same class (files were added, removed or "
                         f"renamed between their runs; submissions seen by {sizes}): grade every "
                         "shard again from the same folder")
    n, by_number = counts.pop(), {}
    for info in infos:
        k = info["shard"]
        if k in by_number:
            raise MergeError(f"shard {k}/{n} is given twice: {by_number[k]} and {info['path']}")
        by_number[k] = info["path"]
    absent = sorted(set(range(1, n + 1)) - set(by_number))
    if absent:
        raise MergeError(f"missing shard(s) {', '.join(f'{k}/{n}' for k in absent)}: "
                         f"{len(by_number)} of {n} given")
    shards, owner = [], {}
    for info in sorted(infos, key=lambda i: i["shard"]):
        path, k, wanted = info["path"], info["shard"], info["wanted"]
        if not info["finished"]:
            raise MergeError(f"{path}: shard {k}/{n} did not finish; run the same command again")
        journal = load_journal(_journal_of(path))
        missing = [key for p, key in wanted.items() if p not in journal]
        if missing:
            raise MergeError(f"{path}: shard {k}/{n} has no result for {len(missing)} submission(s) "
                             f"(e.g. {missing[0]}); run it again")
        for key in wanted.values():
            if owner.setdefault(key, path) != path:
                raise MergeError(f"{key} is in two shards: {owner[key]} and {path}")
        shards.append({"path": path, "shard": k, "of": n, "chapter": info["chapter"],
                       "rows": [{**journal[p], "relative": key} for p, key in wanted.items()]})
    if classes:
        size, digest = classes.pop()
        keys = [key for info in infos for key in info["wanted"].values()]
        if len(keys) != size or class_digest(keys) != digest:
            raise MergeError(f"the shards hold {len(keys)} submission(s) of a class of {size}: "
                             "their manifests do not add up to the class they were cut from")
    return shards


def merge(out: Path, inputs, log: Callable[[str], None] = print) -> list[dict]:
    """Merge shard results into ``out`` (CSV), its journal, feedback files and the class report."""
    from . import batch
    from .class_report import write_reports

    shards = load_shards(inputs)
    settings = batch.Settings(out=Path(out))
    for shard in shards:  # merging into a shard's own files would overwrite its results
        mine = {_journal_of(shard["path"]).resolve(), shard["path"].with_suffix("").with_suffix(".csv").resolve()}
        if {settings.out.resolve(), settings.journal.resolve()} & mine:
            raise MergeError(f"{settings.out}: that is where shard {shard['shard']}/{shard['of']} keeps "
                             "its results; write the merged CSV under another name")
    questions = batch.chapter_questions(settings)
    rows = []
    for shard in sorted(shards, key=lambda s: s["shard"]):
        for row in shard["rows"]:
            feedback = batch._feedback_path(settings, row)  # noqa: SLF001 - same naming as grade
            feedback.parent.mkdir(parents=True, exist_ok=True)
            feedback.write_text(batch.feedback_text(row), encoding="utf-8")
            rows.append({**row, "feedback": str(feedback)})
    settings.out.parent.mkdir(parents=True, exist_ok=True)
    settings.journal.unlink(missing_ok=True)
    for row in rows:
        batch.append_journal(settings.journal, row)
    batch.write_csv(settings.out, rows, questions)
    log(f"merged {len(shards)} shard(s), {len(rows)} submission(s) into {settings.out}")
    for path in write_reports(settings.out, rows, questions):
        log(f"wrote {path}")
    return rows
