# The two commands of the README:
#   make run    installs everything (first time) and starts the chat on http://localhost:8501
#   make test   installs the test dependencies (first time) and runs the whole test suite
.PHONY: run test lint install install-test index eval bench

run: install
	.venv/bin/python -m streamlit run app.py

test: install-test lint
	.venv/bin/python -m pytest

# Style (ruff, import sorting), the architecture's contracts (import-linter: layers, no
# streamlit outside rag/ui, no cycles) and types (mypy); part of `make test`.
lint: install-test
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	.venv/bin/mypy

install:
	scripts/setup.sh

install-test:
	scripts/setup.sh --test

index: install
	.venv/bin/python -m rag index

eval: install
	.venv/bin/python -m rag eval eval/dev.jsonl
