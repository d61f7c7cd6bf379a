# Two commands on a fresh machine with Python 3.11:  `make demo`  and  `make test`.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "needs $(PY) on PATH (set PY=...)"; exit 1; }
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/jingwu demo

test: $(STAMP)
	$(BIN)/ruff check jingwu tests
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -n 2 tests

lint: $(STAMP)
	$(BIN)/ruff check jingwu tests && $(BIN)/mypy && $(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/jingwu bench intake

clean:
	rm -rf $(VENV) .jingwu
