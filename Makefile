# ctm-course: `make book` builds the site, `make test` runs everything CI runs.
# Every recipe runs in bash with -e -u -o pipefail, so no failure is masked.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.ctm-course-installed

# Use the project's virtual environment for every command below (and for the notebooks' kernel).
export VIRTUAL_ENV := $(CURDIR)/$(VENV)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# Offline data: use ../shared/data when it exists and CTM_COURSE_DATA is not set.
ifeq ($(origin CTM_COURSE_DATA),undefined)
ifneq ($(wildcard ../shared/data),)
export CTM_COURSE_DATA := $(abspath ../shared/data)
endif
endif

LESSON_PY := $(sort $(wildcard notebooks/*.py))
LESSON_NB := $(sort $(wildcard notebooks/*.ipynb))

.PHONY: help venv notebooks book test student clean

help:
	@echo "make book       create .venv, execute every lesson in this machine's profile, build _build/html"
	@echo "make test       everything CI runs: unit tests, notebook pairs, nbval (smoke), smoke book build"
	@echo "make notebooks  copy repository.url from _config.yml into the lessons, regenerate notebooks/*.ipynb"
	@echo "make student    student copies of the lessons without solutions, in student/"
	@echo "make venv       only create .venv and install requirements.txt and the ctm_course package"
	@echo "make clean      remove builds, student copies and smoke results (keeps .venv)"

venv: $(STAMP)

# The stamp makes a second `make venv` instant; editing requirements.txt or pyproject.toml reinstalls.
$(STAMP): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	$(VENV)/bin/python -m pip install --quiet -e .
	touch $(STAMP)

notebooks: $(STAMP)
	python -m ctm_course.tools.sync_repo_url
	$(if $(LESSON_PY),jupytext --to ipynb --update $(LESSON_PY),@echo "no notebooks/*.py yet")

# Execute the lessons (results/<profile>/*.json), then rebuild only the pages that show the results.
book: $(STAMP)
	python -m ctm_course.book_results
	python -m ctm_course.tools.book_cache _build
	jupyter-book build . -W -n --keep-going
	python -m ctm_course.book_results
	jupyter-book build . -W -n --keep-going
	@echo "The book is in _build/html/index.html"

test: $(STAMP)
	@echo "== unit and book checks"
	pytest tests/
	@echo "== notebook pairs: regenerate every .ipynb from its .py, then git diff"
	$(if $(LESSON_PY),jupytext --to ipynb --update $(LESSON_PY),@echo "no notebooks/*.py yet")
	git diff --exit-code -- 'notebooks/*.ipynb'
	@echo "== every lesson under nbval, smoke profile"
	$(if $(LESSON_NB),CTM_COURSE_PROFILE=smoke pytest --nbval-lax --nbval-current-env $(LESSON_NB),@echo "no notebooks/*.ipynb yet")
	@echo "== smoke book build from a fresh output folder"
	rm -rf _build/smoke
	CTM_COURSE_PROFILE=smoke jupyter-book build . --path-output _build/smoke --all -W -n --keep-going

student: $(STAMP)
	rm -rf student
	$(if $(LESSON_NB),jupyter nbconvert $(LESSON_NB) --to notebook --output-dir student \
	  --ClearOutputPreprocessor.enabled=True \
	  --TagRemovePreprocessor.enabled=True --TagRemovePreprocessor.remove_cell_tags=solution,@echo "no notebooks/*.ipynb yet")

clean:
	rm -rf _build student .pytest_cache results/smoke
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
