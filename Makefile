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

# `time` in the recipes prints each step's wall time like this.
export TIMEFORMAT := ---- %0R s

LESSON_PY := $(sort $(wildcard notebooks/*.py))
LESSON_NB := $(sort $(wildcard notebooks/*.ipynb))

.PHONY: help venv notebooks book test student clean browser gpu-check web-assets

help:
	@echo "make book       create .venv, execute every lesson in this machine's profile, build _build/html"
	@echo "make test       everything CI runs: ruff, unit tests, notebook pairs, nbval (smoke) of the lessons and"
	@echo "                their student copies, lesson 1 in a fresh Colab-like venv, a smoke book build, and"
	@echo "                the built site checked for broken links and read in headless Chromium (screenshots"
	@echo "                in _build/screenshots/)"
	@echo "make notebooks  copy repository.url from _config.yml into the lessons, regenerate notebooks/*.ipynb"
	@echo "make student    student copies of the lessons without solutions, in student/"
	@echo "make venv       only create .venv and install requirements.txt and the ctm_course package"
	@echo "make web-assets MathJax and the ipywidgets manager for the site (pinned npm packages, no CDN)"
	@echo "make clean      remove builds and student copies (keeps .venv)"
	@echo "make gpu-check  on a GPU: the CUDA-only tests and every lesson's gpu row in quick mode (<= 8 min),"
	@echo "                report in results/gpu-check/<device>.json; exits 2 without CUDA"

venv: $(STAMP)

# The stamp makes a second `make venv` instant; editing requirements.txt or pyproject.toml reinstalls.
$(STAMP): requirements.txt pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r requirements.txt
	$(VENV)/bin/python -m pip install --quiet -e .
	touch $(STAMP)

notebooks: $(STAMP)
	python scripts/sync_repo_url.py
	$(if $(LESSON_PY),jupytext --to ipynb --update $(LESSON_PY),@echo "no notebooks/*.py yet")

# Execute the lessons (results/<profile>/*.json), then rebuild only the pages that show the results.
book: $(STAMP) student web-assets
	python scripts/book_results.py
	python scripts/book_cache.py _build
	jupyter-book build . -W -n --keep-going
	python scripts/book_results.py
	jupyter-book build . -W -n --keep-going
	@echo "The book is in _build/html/index.html"

# tests/test_site.py reads the built book in Debian's Chromium: install it where it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "make test needs Chromium: sudo apt-get install chromium"; exit 1; fi; }

# The site serves MathJax and the Jupyter widget manager itself, from book/_static/vendor/ (git-ignored):
# scripts/web_assets.py npm-packs pinned versions and checks their SHA-256. npm is needed only when
# they are missing or the pins change; the stamp makes a second `make web-assets` instant.
WEB_ASSETS := book/_static/vendor/.installed

web-assets: $(WEB_ASSETS)

$(WEB_ASSETS): scripts/web_assets.py | $(STAMP)
	@python scripts/web_assets.py --check >/dev/null || { \
	  command -v npm >/dev/null 2>&1 || { \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	      echo "installing Debian's npm to fetch the site's JavaScript"; \
	      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm >/dev/null; \
	    else echo "make web-assets needs npm: sudo apt-get install npm"; exit 1; fi; }; \
	  python scripts/web_assets.py; }
	touch $@

# Test-only packages (requirements-test.txt: Keras 3 for the check of lesson 4 against its source),
# never installed for readers; the stamp makes a second `make test` instant. Under `make test` a
# missing Keras fails its test (CTM_COURSE_REQUIRE_KERAS) instead of skipping it.
TEST_STAMP := $(VENV)/.ctm-course-test-installed

$(TEST_STAMP): requirements-test.txt requirements.txt | $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -r requirements-test.txt -c requirements.txt
	touch $@

# The unit tests run on two workers (pytest-xdist), each file whole in one worker, with one torch
# thread per worker so that the two never fight for the cores. The notebooks run two at a time,
# one thread each (scripts/run_notebooks.py): a smoke run keeps one core busy at most.
XDIST := -n 2 --dist loadfile
ONE_THREAD := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

test: export CTM_COURSE_REQUIRE_KERAS := 1
test: $(STAMP) $(TEST_STAMP) browser web-assets
	@echo "== ruff: lint and format check of the package, scripts, tests and the lessons' .py"
	ruff check .
	ruff format --check .
	@echo "== unit and book checks"
	time $(ONE_THREAD) pytest -rs $(XDIST) tests/
	@echo "== notebook pairs: regenerate every .ipynb from its .py, then git diff"
	$(if $(LESSON_PY),jupytext --to ipynb --update $(LESSON_PY),@echo "no notebooks/*.py yet")
	git diff --exit-code -- 'notebooks/*.ipynb'
	@echo "== every lesson under nbval (smoke profile), then its student copy: solutions removed, calls"
	@echo "   of the stubs raise, the fallbacks carry on; two notebooks at a time, one core each"
	$(MAKE) --no-print-directory student
	$(if $(LESSON_NB),time python scripts/run_notebooks.py --jobs 2,@echo "no notebooks/*.ipynb yet")
	@echo "== a smoke book build from a fresh output folder, and beside it (each keeps one core busy)"
	@echo "   lesson 1 in a fresh Colab-like venv: the install cell, no torch reinstall (nbval, smoke)"
	rm -rf _build/smoke _build/colab-like.log
	( time $(ONE_THREAD) CTM_COURSE_COLAB_LIKE=1 pytest -p no:cacheprovider -rA tests/test_colab_like.py \
	  ) > _build/colab-like.log 2>&1 & colab=$$!; \
	time $(ONE_THREAD) CTM_COURSE_PROFILE=smoke CTM_COURSE_RESULTS=$(CURDIR)/_build/smoke-results \
	  jupyter-book build . --path-output _build/smoke --all -W -n --keep-going && book=0 || book=$$?; \
	wait $$colab && colab=0 || colab=$$?; \
	echo "== lesson 1 in the Colab-like venv (its output, from _build/colab-like.log)"; \
	cat _build/colab-like.log; \
	test $$book = 0 && test $$colab = 0
	@echo "== the built site: internal links and images, then a reader in headless Chromium"
	rm -rf _build/screenshots
	time CTM_COURSE_SITE=_build/smoke/_build/html pytest -p no:cacheprovider -rA -n 2 --dist load \
	  tests/test_links.py tests/test_site.py

# Student copies: notebooks/NN_slug.ipynb -> student/NN_slug.ipynb without the worked solutions
# (see scripts/make_student.py). The book offers them for download from each lesson.
student: $(STAMP)
	rm -rf student
	python scripts/make_student.py

clean:
	rm -rf _build student .pytest_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

# On a lent GPU machine (no $(STAMP): it cannot pip install; its python3 has torch).
gpu-check:
	$(PYTHON) scripts/gpu_check.py
