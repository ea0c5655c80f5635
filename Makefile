# mch-platform: one machine, two commands.  `make up` runs the platform, `make test` tests it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := libs/events libs/servicekit services/records services/immunization services/growth services/reporting libs/platform
STAMP := $(VENV)/.installed

.PHONY: install up test lint typecheck check bench schemas deploy-check clean

install: $(STAMP)

$(STAMP): requirements/constraints.txt requirements/dev.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv pip install --quiet --python $(BIN)/python -c requirements/constraints.txt \
		-r requirements/dev.txt $(foreach p,$(PACKAGES),-e $(p))
	touch $(STAMP)

# Options of `mch up` pass through, e.g. make up MCH_UP_ARGS="--base-port 9001 --demo-communes 0"
MCH_UP_ARGS ?=
up: install
	$(BIN)/mch up $(MCH_UP_ARGS)

test: install
	$(BIN)/pytest

# The suite again with the clock 120 days ahead (Debian's faketime): no test may depend on the date.
.PHONY: test-shifted
test-shifted: install
	faketime -f '+120d' $(BIN)/pytest -p no:cacheprovider

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

check: lint typecheck test

bench: install
	for script in services/*/bench/*.py libs/*/bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

schemas: install
	$(BIN)/mch schemas export

deploy-check: install
	$(BIN)/pytest tests/deploy

clean:
	rm -rf $(VENV) data
