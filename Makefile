# The two commands of the README. Both install everything they need, and are idempotent.
#
#   make train   install, then train ResNet-20 on Fashion-MNIST, export a SavedModel and an ONNX file
#   make test    install, then run the test suite (TensorFlow); on JAX the contract, Transformer,
#                distillation and gradient-flow tests, and the blocks of the other families; on
#                torch the contract (with a few fit steps per model), Transformer, distillation,
#                new-family, legacy-file and Keras-internals tests (tests/test_backends.py, in the
#                TensorFlow run, moves .keras files between all three backends); the torchvision/timm
#                checkpoint parity tests run on all three backends
#   make test-all the same, with the tests marked slow (every model's .keras file round trip and
#                 XLA training step, not only the CI tier's); its JAX half alone took 1.5 hours on
#                 two cores (every model's contract; JAX compiles each op on its first eager call)
#
# PYTHON may point at another interpreter or a venv: make test PYTHON=.venv/bin/python

PYTHON ?= python3
PIP = $(PYTHON) -m pip install --disable-pip-version-check -q -c constraints.txt
FASHION = /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
TRAIN_ARGS ?=
# Two pytest workers: the suite is bound by Python-side tracing, one per core.
PYTEST_ARGS ?= -n 2 --durations=15
MARK ?= not slow

.PHONY: install data train test test-all test-tf test-jax test-torch

# Debian packages: the Fashion-MNIST files, and graphviz for keras.utils.plot_model (kerasarch plot).
data:
	@{ test -f $(FASHION) && command -v dot >/dev/null; } || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q --no-install-recommends dataset-fashion-mnist graphviz; }

install: data
	$(PIP) -e ".[dev]"
	$(PIP) --no-deps tensorflow-serving-api
	$(PIP) --no-deps timm

train: install
	$(PYTHON) examples/train_fashion_mnist.py $(TRAIN_ARGS)

test: install test-tf test-jax test-torch

test-all: install
	$(MAKE) test-tf test-jax test-torch MARK=

test-tf:
	KERAS_BACKEND=tensorflow $(PYTHON) -m pytest $(PYTEST_ARGS) -m "$(MARK)"

test-jax:
	KERAS_BACKEND=jax $(PYTHON) -m pytest $(PYTEST_ARGS) -m "$(MARK)" tests/test_contract.py tests/test_transformer.py \
	  tests/test_distill_diagnostics.py tests/test_new_family.py tests/test_legacy_files.py tests/test_keras_compat.py \
	  tests/test_torch_weights.py tests/test_seq2seq.py
	KERAS_BACKEND=jax $(PYTHON) -m pytest $(PYTEST_ARGS) -m "$(MARK)" tests/test_layers.py -k round_trip

test-torch:
	KERAS_BACKEND=torch $(PYTHON) -m pytest $(PYTEST_ARGS) -m "$(MARK)" tests/test_contract.py tests/test_transformer.py \
	  tests/test_distill_diagnostics.py tests/test_new_family.py tests/test_legacy_files.py tests/test_keras_compat.py \
	  tests/test_torch_weights.py tests/test_recurrent.py tests/test_seq2seq.py
