# `make report` and `make test` work from a fresh clone with only Python 3.11 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= default
OUT    ?= results
# pytest-xdist workers for make test / make quick (auto: one per core)
JOBS   ?= auto
PYTEST := $(BIN)/python -m pytest -q -n $(JOBS) --dist loadscope

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup report test quick matrix docs freeze clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[all,test]'
	touch $(STAMP)

setup: $(STAMP)

## Run the conformance matrix on the default profile and write the HTML report.
report: $(STAMP)
	$(BIN)/python -m conformance run --profile $(PROFILE) --out $(OUT) --force
	$(BIN)/python -m conformance report $(OUT)

## The project's own tests (oracle vs mpmath, strategies, compare, CLI, report)
## plus the pytest conformance matrix on the smoke profile (every cell, float32).
## JUnit XML for CI: $(OUT)/junit.xml. In parallel (pytest-xdist, JOBS workers).
test: $(STAMP)
	$(PYTEST) --junitxml=$(OUT)/junit.xml

## The edit-test loop: the project's own tests but the slow ones (marked slow:
## subprocess runs, compiles) and the matrix, in under a minute.
quick: $(STAMP)
	$(PYTEST) -m "not slow" tests

## The pytest matrix alone, on a chosen profile: make matrix PROFILE=default
## JUnit XML for CI (one testcase per loss variant, framework, device, dtype and direction): $(OUT)/junit-matrix.xml
matrix: $(STAMP)
	$(BIN)/python -m pytest conformance -q --profile $(PROFILE) --junitxml=$(OUT)/junit-matrix.xml

## The pages generated from the data: docs/coverage.md, docs/findings.md
docs: $(STAMP)
	$(BIN)/python -m conformance docs

freeze: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable > constraints.txt

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis
