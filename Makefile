# The two entry points of the README: `make book` and `make test`.
# Both create .venv if it is absent and install the CPU build of torch before anything else,
# so that the package's torch range is already satisfied and pip never pulls a CUDA build.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
SIZE   ?= ci
JOBS   ?= 2
TORCH  ?= torch==2.13.0

.PHONY: book test env data browser clean bench

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[all]"
	$(PY) -m ipykernel install --sys-prefix --name ebmbook --display-name "Python (ebmbook)" >/dev/null
	touch $@

# FashionMNIST from Debian's dataset-fashion-mnist (no internet needed); see ebmbook/data/fetch.py
data: $(VENV)/.installed
	$(PY) -m ebmbook.data.fetch

# headless Chromium for the browser check of the built book (apt-get as root; see ebmbook/browser.py)
browser: $(VENV)/.installed
	$(PY) -m ebmbook.browser --install

env: $(VENV)/.installed data browser

book: env
	$(VENV)/bin/ebmbook book --size $(SIZE) --jobs $(JOBS)

test: env
	$(VENV)/bin/pytest -q -n $(JOBS)

bench: env
	$(PY) benchmarks/langevin.py

clean:
	rm -rf _build
