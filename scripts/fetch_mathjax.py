"""Put MathJax into book/_static/mathjax/ so the site typesets its math without any other host.

Jupyter Book pages load MathJax from a CDN by default; offline, or where the CDN is blocked,
the equations then show as raw TeX. This script takes the MathJax release from the npm
registry (``npm pack mathjax@VERSION``, checked against the pinned integrity hash below) and
keeps only what the pages use: ``tex-chtml.js``, the TeX extensions it loads on demand, the
CommonHTML fonts, the menu and the accessibility components (about 7 MB, never committed:
``book/_static/mathjax/`` is git-ignored). ``_config.yml`` points ``mathjax_path`` at it.

It runs before every build (``make book``, the test suite, the publishing workflow) and does
nothing when the pinned version is already in place. It needs ``npm`` (Node.js).
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VERSION = "3.2.2"
INTEGRITY = "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "book" / "_static" / "mathjax"
STAMP = TARGET / "VERSION"
# What the pages need from the package's es5/ folder (paths relative to it).
KEEP = ["tex-chtml.js", "input/tex/extensions", "output/chtml", "a11y", "ui", "sre", "adaptors"]


def _check_integrity(tarball: Path) -> None:
    algo, _, expected = INTEGRITY.partition("-")
    digest = base64.b64encode(hashlib.new(algo, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        raise SystemExit(f"fetch_mathjax: {tarball.name} does not match the pinned {algo} hash; refusing to use it")


def fetch(target: Path = TARGET) -> Path:
    """Install MathJax VERSION into ``target`` unless it is there already; return ``target``."""
    stamp = target / "VERSION"
    if stamp.is_file() and stamp.read_text().strip() == VERSION and (target / "tex-chtml.js").is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("fetch_mathjax: npm (Node.js) is needed to fetch MathJax for the site; "
                         "install Node.js (e.g. `apt-get install npm`) and run again")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([npm, "pack", f"mathjax@{VERSION}", "--silent", "--pack-destination", tmp],
                       check=True, stdout=subprocess.DEVNULL)
        tarball = Path(tmp) / f"mathjax-{VERSION}.tgz"
        _check_integrity(tarball)
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data") if sys.version_info >= (3, 12) else tar.extractall(tmp)  # noqa: S202
        es5 = Path(tmp) / "package" / "es5"
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for rel in KEEP:
            src, dst = es5 / rel, staging / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
        shutil.copy2(Path(tmp) / "package" / "LICENSE", staging / "LICENSE")
        (staging / "VERSION").write_text(VERSION + "\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


if __name__ == "__main__":
    path = fetch()
    print(f"MathJax {VERSION} in {path.relative_to(ROOT)}")
