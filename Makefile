# `make report` and `make test` work from a fresh clone with only Python 3.11 and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PROFILE ?= default
OUT    ?= results

export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: setup report test matrix docs freeze clean

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
## JUnit XML for CI: $(OUT)/junit.xml
test: $(STAMP)
	$(BIN)/python -m pytest -q --junitxml=$(OUT)/junit.xml

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
