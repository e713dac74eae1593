# The course's commands. Two are all a newcomer needs (see README.md):
#   make book   installs what it needs, executes every chapter, writes the site to _build/html
#   make test   installs what it needs and runs every test (unit, grading, nbval, strict build)
# Both work on a fresh clone with Python 3.10+ (venv only, no conda).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pytest workers: notebooks are spread one file per worker (--dist loadfile)
JOBS ?= 2

.PHONY: book test install bench exercises check-exercises clean

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

book: install
	$(BIN)/jupyter-book build . -W -n --keep-going

test: install
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile --nbval-lax tests book solutions exercises

# Times every book and solution notebook and prints the chapters' headline numbers.
bench: install
	$(BIN)/python scripts/benchmark.py

# Regenerate exercises/ from solutions/ (and refresh every notebook's setup cell).
exercises: install
	$(BIN)/gm-course exercises

check-exercises: install
	$(BIN)/gm-course check

clean:
	rm -rf _build .pytest_cache
