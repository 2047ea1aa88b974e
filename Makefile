# Two commands do everything on a fresh machine:  `make reproduce`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SCALE  ?= smoke
export HF_HUB_OFFLINE ?= 1
# Agg: no GUI windows.  Notebooks still show every figure inline: rawdiff.figures.save_figure displays the PNG it
# saved whenever it runs in a Jupyter kernel (papermill, nbval, JupyterLab), whatever the backend.
export MPLBACKEND ?= Agg
export PYTHONHASHSEED ?= 0

.PHONY: install reproduce check-results test test-unit test-notebooks bench clean

# Everything: the core and every extra (`.[all,test]`); `pip install .` alone is the small core (pyproject.toml).
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -c constraints.txt -e '.[all,test]'
	touch $@

install: $(STAMP)

# make reproduce [SCALE=smoke|study|medium|paper] [DATA_ROOT=/data (ZRR + LOL)] [RUNS=runs/ (CLI-trained runs)]
reproduce: install
	$(VENV)/bin/rawdiff reproduce --scale $(SCALE) $(if $(DATA_ROOT),--data-root $(DATA_ROOT)) $(if $(RUNS),--runs $(RUNS))

# Re-run the `study` notebooks (reusing cached runs) and compare tables and verdicts with the committed snapshot.
check-results: install
	$(VENV)/bin/rawdiff reproduce --scale study --check results/study

# Unit tests, then every notebook under nbval (in order 01..06: later ones reuse earlier checkpoints).
# nbval reads a kernel's output only after each cell ends; a long training cell's progress-bar updates can overflow
# the kernel's output queue (dropped messages -> nbval "Timeout waiting for output"), so bars update every 10 s here.
test: export TQDM_MININTERVAL = 10
test: install
	$(PY) -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env --durations=15 tests notebooks

test-unit: install
	$(PY) -m pytest -p no:cacheprovider tests

test-notebooks: export TQDM_MININTERVAL = 10
test-notebooks: install
	$(PY) -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env notebooks

bench: install
	$(PY) -m benchmarks.run_all

clean:
	rm -rf build figures/*.png figures/*.csv figures/*.md figures/MANIFEST.json
