# Two commands for a newcomer: `make run` (execute every notebook, build the book site) and `make test`.
# Both create .venv on first use; it is rebuilt when requirements.txt or pyproject.toml change.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
SCALE_STAMP := $(VENV)/.installed-scale
# pytest on two cores; --dist loadfile keeps a notebook's cells in order on one worker (one kernel).
# --no-loadscope-reorder keeps tests/conftest.py's order, longest files first (xdist would start
# the files with the most tests first, leaving the long notebooks for the end).
WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(WORKERS) --dist loadfile --no-loadscope-reorder
# TensorFlow: every notebook output is compared with the committed one. Other backends: every cell
# runs and every assert must hold, outputs are not compared (they were made on TensorFlow).
NBVAL := --nbval --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg
NBVAL_LAX := --nbval-lax --nbval-current-env
# JAX compiles every model's steps with XLA, and many tests compile the very same small programs:
# a compilation cache shared by the pytest workers and notebook kernels, even starting empty, took
# tests/test_{masking,softmax,shared}.py from 59 s to 53 s. It lives in build/ (make clean).
JAX_CACHE := JAX_COMPILATION_CACHE_DIR=$(CURDIR)/build/jax-cache JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0

# Put the venv first on PATH so kernels, jupyter and ruff all come from it.
export PATH := $(BIN):$(PATH)

.PHONY: venv scale run site workshop wheelhouse test test-busy test-portable notebooks-jax lint
.PHONY: lab bench bench-scale bench-kim kim-data refresh-notebooks clean

venv: $(STAMP)

# The optional extra of helpers.scale (Ray Data): notebook 06 and tests/test_scale.py need it.
scale: $(SCALE_STAMP)

$(SCALE_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[scale]"
	touch $@

$(STAMP): requirements.txt requirements-learner.txt pyproject.toml tools/ipython_kernel_config.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -e .
	mkdir -p $(VENV)/etc/ipython
	cp tools/ipython_kernel_config.py $(VENV)/etc/ipython/ipython_kernel_config.py
	# Build matplotlib's font cache now, so its one-time notice never lands in a notebook output.
	MPLBACKEND=Agg $(BIN)/python -c "import matplotlib.pyplot"
	touch $@

# REPOSITORY_URL=https://github.com/OWNER/NAME (e.g. `make site REPOSITORY_URL=...`) links the
# repository on every page and adds Colab and Binder buttons; unset, the site has no outside link.
SITE_REPOSITORY = $(if $(REPOSITORY_URL),--repository-url $(REPOSITORY_URL))

# The book site in build/site: every notebook executed fresh from its source, then Sphinx. A
# notebook that fails still gets its page (marked where it stopped); the summary lists each
# notebook's time and result, and the exit code is 1 if any failed. Kernel logs: build/site-logs/.
run: $(SCALE_STAMP)
	$(BIN)/python tools/notebooks.py site notebooks build/site $(SITE_REPOSITORY)

# The same site from the outputs committed in the notebooks, in seconds (nothing is executed).
site: $(STAMP)
	$(BIN)/python tools/notebooks.py site notebooks build/site --committed-outputs $(SITE_REPOSITORY)

# The workshop kit in build/workshop/: the student kit (its own README, kit.py, student copies)
# and its zip, and the instructor's zip (INSTRUCTOR.md, solutions, the site from committed outputs).
# `make wheelhouse workshop` ships the wheelhouse in the kit, for installs with no network.
workshop: $(STAMP)
	$(BIN)/python tools/workshop.py build notebooks build/workshop \
		$(if $(wildcard $(WHEELHOUSE)/*.whl),--wheels $(WHEELHOUSE))

# Every wheel of the learner's environment and the scale extra, for this machine's platform and
# Python, in build/wheelhouse (network needed once; the kit then installs with --no-index).
WHEELHOUSE ?= build/wheelhouse
wheelhouse:
	$(PYTHON) workshop/kit.py wheelhouse --dest $(WHEELHOUSE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# One pytest run per supported backend, each in a fresh process (the backend is fixed at import).
# tests/test_site.py builds the site from the committed outputs (no second execution: nbval here
# checks them against a fresh run) and drives /usr/bin/chromium; it says so when it is skipped.
test: lint $(SCALE_STAMP)
	MPLBACKEND=Agg $(BIN)/python -c "import matplotlib.pyplot"
	KERAS_BACKEND=tensorflow $(PYTEST) tests notebooks $(NBVAL)
	KERAS_BACKEND=jax $(JAX_CACHE) $(PYTEST) tests notebooks $(NBVAL_LAX)

# The load test (CI runs it after `make test`): strict nbval of every notebook (06 starts Ray)
# and Ray's own tests while BUSY_LOOPS CPU-bound processes saturate the cores, as on a learner's
# busy laptop (466 s here). tools/busy.py always stops them, and everything ends within
# BUSY_SECONDS.
BUSY_LOOPS ?= 4
BUSY_SECONDS ?= 2400
BUSY_TESTS ?= notebooks tests/test_scale.py
test-busy: $(SCALE_STAMP)
	KERAS_BACKEND=tensorflow $(BIN)/python tools/busy.py --loops $(BUSY_LOOPS) \
	    --seconds $(BUSY_SECONDS) -- $(PYTEST) $(BUSY_TESTS) $(NBVAL)

# Outputs that are the same on another CPU: strict nbval on one core (as `taskset -c 0`), then
# with TensorFlow's oneDNN kernels off (another summation order).
test-portable: $(SCALE_STAMP)
	KERAS_BACKEND=tensorflow taskset -c 0 $(BIN)/python -m pytest notebooks $(NBVAL)
	KERAS_BACKEND=tensorflow TF_ENABLE_ONEDNN_OPTS=0 $(PYTEST) notebooks $(NBVAL)

# Only the notebooks, top to bottom on JAX (`make test` runs this too, with the unit tests).
notebooks-jax: $(SCALE_STAMP)
	KERAS_BACKEND=jax $(JAX_CACHE) $(PYTEST) notebooks $(NBVAL_LAX)

lab: $(SCALE_STAMP)
	$(BIN)/jupyter lab notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/extraction.py

bench-scale: $(SCALE_STAMP)
	$(BIN)/python benchmarks/distributed.py

# Kim (2014), Table 2, CNN-rand: `make bench-kim DATA=folder` (see the README for its layout);
# more options of benchmarks/kim_table.py in ARGS, e.g. ARGS="--patience 3 --only MR,TREC".
bench-kim: $(STAMP)
	$(BIN)/python benchmarks/kim_table.py $(or $(DATA),data) --out build/kim_table.json $(ARGS)

# The datasets in DATA against Kim's Table 1 (sentences, words, length), in seconds, no training.
kim-data: $(STAMP)
	$(BIN)/python benchmarks/kim_data.py $(or $(DATA),data)

# The committed outputs are TensorFlow's, whatever KERAS_BACKEND the shell has.
refresh-notebooks: $(SCALE_STAMP)
	KERAS_BACKEND=tensorflow $(BIN)/python tools/notebooks.py refresh notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache .ruff_cache
