"""Temporal convolutional classifiers of real-valued sequences: a family defined in the tests.

| name     | widths   | kernel | input                | classes | params |
|----------|----------|--------|----------------------|---------|--------|
| tcn_tiny | 16, 16   | 3      | (any steps) x 3      | 5       | 2,661  |
| tcn_wide | 32, 32   | 3      | (any steps) x 3      | 5       | 9,925  |

Dilations double per block (1, 2): the receptive field is 1 + 2 * (k - 1) * (1 + 2) = 13 steps.
"""

import dataclasses

from kerasarch.contract import Contract, Output, SequenceInput
from kerasarch.models.base import SequenceModelBuilder
from kerasarch.registry import register_model, unregister_model
from tiny_family.layers import TemporalBlock

ANCHORS = {"tcn_tiny": 2_661, "tcn_wide": 9_925}


@dataclasses.dataclass(frozen=True)
class TCNVariant:
    name: str
    widths: tuple
    kernel_size: int = 3


VARIANTS = (TCNVariant("tcn_tiny", (16, 16)), TCNVariant("tcn_wide", (32, 32)))


def build_tcn(variant, **kwargs):
    """A TCN classifier; ``**kwargs``: the common builder arguments."""
    b = SequenceModelBuilder(variant.name, kwargs, family="tcn", head_name="fc")
    with b.policy():
        x = b.inputs
        for i, width in enumerate(variant.widths):
            x = TemporalBlock(width, variant.kernel_size, 2 ** i, name=f"block{i + 1}")(x)
            b.add_feature(x, f"block{i + 1}", 1)
        return b.finish(x)


def register():
    for v in VARIANTS:
        register_model(v.name, build_tcn, v, family="tcn",
                       contract=Contract(SequenceInput(width=3), Output("probabilities", 5)))


def unregister():
    for v in VARIANTS:
        unregister_model(v.name)
