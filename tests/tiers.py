"""Which registered models each CI tier walks, read off the registry in one place.

A family tags the variants that reach a code path its smallest member does not
(``register_model(..., tags=...)``, in the family's own file, with the reason):

* ``ci``: the whole TensorFlow contract in CI (``make test``). The smallest member of every
  family (by its reference parameter count, tests/anchors.py) is in it without a tag.
* ``ci_jax``: the whole contract on JAX in CI, where every first call of an op compiles it
  (a DenseNet-121 contract takes minutes on two cores); the families without it have their
  blocks round-tripped on JAX by tests/test_layers.py instead.
* ``ci_xla``: the XLA-compiled training step in CI (20-70 s of compilation per model), one
  model per kind of op.
* ``ci_onnx``: the tf2onnx conversion in CI, one model per block family.

A family none of whose variants carries any of these tags (a new family) has its smallest
member in every tier, so it is walked everywhere with no test code of its own. ``make
test-all`` walks every model in every check.
"""

import collections

import kerasarch
from anchors import ANCHORS, OVER_100M
from kerasarch.registry import model_entry

TIER_TAGS = ("ci", "ci_jax", "ci_xla", "ci_onnx")


def _families():
    members = collections.defaultdict(list)
    for name in kerasarch.list_models():
        members[model_entry(name).family].append(name)
    return members


def _smallest(names):
    # A model without an anchor fails tests/test_param_counts.py; here it simply ranks last.
    return min(names, key=lambda n: (ANCHORS.get(n, float("inf")), n))


def tier(tag):
    """The names in tier ``tag`` (one of :data:`TIER_TAGS`)."""
    names = set(kerasarch.list_models(tag=tag))
    for members in _families().values():
        untagged = not any(model_entry(n).tags & set(TIER_TAGS) for n in members)
        if tag == "ci" or untagged:
            names.add(_smallest(members))
    return names


CI = tier("ci")
JAX = tier("ci_jax")
XLA = tier("ci_xla")
ONNX = tier("ci_onnx")
# On TensorFlow CI walks the quick checks for every model but those over 100M parameters
# outside CI (building one costs seconds to minutes per check); `make test-all` walks them.
HEAVY = OVER_100M - CI
