# The two commands of the README:
#   make run    installs everything (first time) and starts the chat on http://localhost:8501
#   make test   installs the test dependencies (first time) and runs the whole test suite
.PHONY: run test install install-test index eval bench

run: install
	.venv/bin/python -m streamlit run app.py

test: install-test
	.venv/bin/python -m pytest

install:
	scripts/setup.sh

install-test:
	scripts/setup.sh --test

index: install
	.venv/bin/python -m rag index

eval: install
	.venv/bin/python -m rag eval eval/dev.jsonl
