# Two commands that work on a fresh machine: `make demo` (the monitor with its simulated camera and the
# shipped model) and `make test`. Both bootstrap .venv first; nothing has to be installed by hand.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-0.1.0
# DDS stays on this machine's loopback, on a domain of its own (tests pick a random one per run).
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
DOMAIN := $(shell echo $$(( $$RANDOM % 100 + 1 )))

.PHONY: demo test test-all bench venv clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	# torch and torchvision are pinned as a pair: other torchvision builds do not import beside this torch.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[ros,train,dev]'
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$(DOMAIN)} $(VENV)/bin/depth-action-monitor --demo $(ARGS)

test: $(STAMP)
	$(PY) -m pytest -q $(ARGS)

test-all: $(STAMP)
	$(PY) -m pytest -q --run-slow $(ARGS)

bench: $(STAMP)
	ROS_DOMAIN_ID=$(DOMAIN) $(PY) bench/node.py
	$(PY) bench/synthetic.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
