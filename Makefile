# The course's commands. Two are all a newcomer needs (see README.md):
#   make book   installs what it needs, executes every chapter, writes the site to _build/html
#   make test   installs what it needs and runs every test (unit, grading, nbval, strict build)
# Both work on a fresh clone with Python 3.10+ (venv only, no conda).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pytest workers: notebooks are spread one file per worker (--dist loadfile)
JOBS ?= 2

.PHONY: book test install site-tools mathjax bench exercises check-exercises clean

install: $(VENV)/.installed

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10+ needed"'
	$(PYTHON) -m venv $(VENV)

# torch first (CPU build unless there is a GPU; an installed torch is kept), then the package.
$(VENV)/.installed: pyproject.toml scripts/install_torch.py | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python scripts/install_torch.py
	$(BIN)/python -m pip install --quiet -e ".[book,test]"
	touch $@

# MathJax from the npm registry into book/_static/mathjax (git-ignored): the site serves its
# own math typesetting and makes no request to another host. Needs npm (Node.js).
mathjax:
	$(PYTHON) scripts/fetch_mathjax.py

# Chapters not in the execution cache run first in parallel (one per core); the strict build
# then renders them (and re-executes a failed one to show its traceback).
book: install mathjax
	$(BIN)/python scripts/execute_book.py || echo "*** some chapters failed: the build below shows why ***"
	$(BIN)/jupyter-book build . -W -n --keep-going

# The tools the tests need besides Python: npm (for MathJax), Debian's Chromium for the
# browser tests (never a downloaded browser) and bubblewrap for the grader's sandbox.
# Installed with apt when missing and run as
# root (CI); otherwise a loud message says what is missing (browser tests are then skipped).
site-tools:
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq npm >/dev/null; \
	  else echo "*** npm (Node.js) is missing: install it to build the site (MathJax comes from npm). ***"; fi; fi
	@if [ -z "$$CHROMIUM" ] && [ ! -x /usr/bin/chromium ] && ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "*** Chromium is missing: the browser tests of the site will be SKIPPED."; \
	    echo "*** Install it (sudo apt-get install chromium) or set CHROMIUM=/path/to/chromium. ***"; fi; fi
	@if ! command -v bwrap >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null; \
	  else echo "*** bubblewrap is missing: the grader's sandbox tests will be SKIPPED and"; \
	    echo "*** gm-course grade will refuse to run (sudo apt-get install bubblewrap). ***"; fi; fi

test: install site-tools
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval-lax tests solutions exercises

# Times every book and solution notebook (median of 3) beside its budget and prints the
# chapters' headline numbers, then chapter 8's score model beside the standard 2-D DDPM
# recipe. BASELINE=<git revision> also times that revision's notebooks, alternating runs.
# The second part runs even when a notebook is over budget; make still fails then.
bench: install
	$(BIN)/python scripts/benchmark.py $(if $(BASELINE),--baseline $(BASELINE)); status=$$?; \
	$(BIN)/python scripts/ddpm_baseline.py --seeds 0 1 2 3 4 && exit $$status

# Regenerate exercises/ from solutions/ (and refresh every notebook's setup cell).
exercises: install
	$(BIN)/gm-course exercises

check-exercises: install
	$(BIN)/gm-course check

clean:
	rm -rf _build .pytest_cache
