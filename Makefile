# Two commands on a fresh machine, each doing its own set-up (scripts/setup.sh: .venv with the
# CPU torch pin, then ravejobs; done once):
#   make demo   the main job on the embedded default (local executor, demo corpus, tiny model)
#   make test   the test suite; starts the SLURM test cluster when run as root, else says why
#               the SLURM tests are skipped. Three workers (pytest-xdist) on two cores: the SLURM
#               tests on one, one after another (they mostly wait on the test node's queue), the
#               other modules whole on the other two, longest first (tests/conftest.py)
VENV ?= .venv
PYTHON := $(VENV)/bin/python

.PHONY: setup demo test
setup:
	@RAVEJOBS_VENV=$(VENV) bash scripts/setup.sh

demo: setup
	$(PYTHON) launch.py

test: setup
	@bash scripts/testcluster.sh
	$(PYTHON) -m pytest -q -rs -n 3 --dist loadgroup --no-loadscope-reorder
