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

.PHONY: demo test test-all bench venv ros2-tools clean

$(STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	# torch and torchvision are pinned as a pair: other torchvision builds do not import beside this torch.
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[ros,train,dev]'
	touch $@

venv: $(STAMP)

# The real ROS 2 launch and command-line tools (launch_ros, launch_testing, ros2cli) are not on PyPI; CI and
# developers have their sources beside this repository. Without them the tests that run `ros2 launch`,
# `ros2 run`, `ros2 param` and `ros2 lifecycle` skip and say why (a ROS 2 install has the tools already).
ROS2_TOOLS ?= ../shared/ros2-tools

ros2-tools: $(STAMP)
	@if [ -f $(ROS2_TOOLS)/install.sh ]; then bash $(ROS2_TOOLS)/install.sh $(VENV); \
	else echo "ros2-tools: no $(ROS2_TOOLS)/install.sh; the tests that need ros2 launch/run/param/lifecycle will skip"; fi

demo: $(STAMP)
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-$(DOMAIN)} $(VENV)/bin/depth-action-monitor --demo $(ARGS)

test: $(STAMP) ros2-tools
	$(PY) -m pytest -q $(ARGS)

test-all: $(STAMP) ros2-tools
	$(PY) -m pytest -q --run-slow $(ARGS)

bench: $(STAMP)
	ROS_DOMAIN_ID=$(DOMAIN) $(PY) bench/node.py
	$(PY) bench/synthetic.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
