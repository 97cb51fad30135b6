VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench clean

# No step compiles C: --only-binary webrtcvad fails the install, instead of building, if
# anything asks for webrtcvad again (webrtcvad-wheels provides the module prebuilt), and
# Resemblyzer, whose metadata asks for it, is installed with --no-deps.
$(STAMP): pyproject.toml constraints.txt requirements-nodeps.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --only-binary webrtcvad -c constraints.txt -e '.[dev,faces,voices]'
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -c 'import resemblyzer, webrtcvad'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/s2f demo --out demo-output

test: $(STAMP)
	$(VENV)/bin/ruff check .
	S2F_DEMO_OUT=$$(mktemp -d)/demo $(PY) -m pytest -q -m "not slow" tests --nbmake notebooks

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo-output .pytest_cache
