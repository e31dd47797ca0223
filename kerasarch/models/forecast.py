"""Recurrent forecasters of real-valued series: a window of past steps in, the next ``horizon``
steps of ``num_targets`` series out, all at once (a direct multi-step forecast, no feedback of
the model's own predictions).

| name           | cell | levels | units | features | horizon | series | params |
|----------------|------|--------|-------|----------|---------|--------|--------|
| lstm_forecaster| lstm | 2      | 64    | 1        | 48      | 1      | 53,040 |
| gru_forecaster | gru  | 2      | 64    | 1        | 48      | 1      | 40,944 |

The layout: the series window (batch, steps, features), ``levels`` x
:class:`~kerasarch.layers.RecurrentLayer` (shared with the classifiers,
:func:`kerasarch.models.rnn.stack_recurrent`), the last step's state, dropout and one dense
layer to ``horizon x num_targets`` values, shaped (batch, horizon, num_targets). Any window
length works (the state is read at its last step); scale the inputs and targets (the
model does not), e.g. with ``kerasarch.data.elecdemand``'s statistics.
"""

import dataclasses

from kerasarch.contract import Contract, Output, SequenceInput
from kerasarch.layers import _checks
from kerasarch.models.base import SequenceModelBuilder
from kerasarch.models.rnn import pool_over_time, stack_recurrent, TIME_POOLING
from kerasarch.registry import export_constructors, register_model

__all__ = ["ForecasterVariant", "VARIANTS", "build_forecaster"]


@dataclasses.dataclass(frozen=True)
class ForecasterVariant:
    name: str
    cell: str
    units: int = 64
    levels: int = 2
    num_features: int = 1
    horizon: int = 48
    num_targets: int = 1


VARIANTS = (
    ForecasterVariant("lstm_forecaster", "lstm"),
    ForecasterVariant("gru_forecaster", "gru"),
)


def _contract(v, num_features=None, horizon=None, num_targets=None):
    return Contract(SequenceInput(num_features or v.num_features),
                    Output("forecast", num_targets or v.num_targets, steps=horizon or v.horizon))


def build_forecaster(variant, *, num_features=None, horizon=None, num_targets=None, units=None, levels=None,
                     cell=None, time_pooling="last", dropout=0.1, residual=False, layer_norm=False, **kwargs):
    """Build a forecaster from a row of ``VARIANTS``.

    Args:
        num_features: series in the input window (default the variant's); the input shape is
            (steps, num_features), any number of steps.
        horizon: steps forecast; ``num_targets``: series forecast at each.
        units, levels, cell: override the variant's ("lstm", "gru" or "rnn").
        time_pooling: what the head reads: "last" (the final state), "mean", "max", "attention".
        dropout: between recurrent levels; ``residual``, ``layer_norm`` between equal widths.
        **kwargs: the common builder arguments (:mod:`kerasarch.models.base`): ``input_shape``,
            ``include_top`` (False: the last level's sequence; ``pooling="avg"``/``"max"``),
            ``features_only``, ``drop_rate`` (before the head), ``weights``, ``dtype``, ``name``.
            ``num_classes`` and ``classifier_activation`` do not apply (an error says so).
    """
    v = variant
    who = v.name
    for arg, value in (("num_features", num_features), ("horizon", horizon), ("num_targets", num_targets),
                       ("units", units), ("levels", levels)):
        if value is not None:
            _checks.positive_int(who, arg, value)
    cell = _checks.one_of(who, "cell", cell or v.cell, ("lstm", "gru", "rnn"))
    time_pooling = _checks.one_of(who, "time_pooling", time_pooling, TIME_POOLING)
    b = SequenceModelBuilder(v.name, kwargs, family="forecast", head_name="head",
                             contract=_contract(v, num_features, horizon, num_targets))
    units, levels = units or v.units, levels or v.levels
    b.arch_extra.update(cell=cell, units=units, levels=levels, time_pooling=time_pooling)
    with b.policy():
        x = stack_recurrent(b, b.inputs, None, cell=cell, units=units, levels=levels,
                            dropout=_checks.rate(who, "dropout", dropout), residual=residual, layer_norm=layer_norm)
        if b.features_only or not b.include_top:
            return b.finish(x)
        return b.finish(x, head=lambda t: b.forecast_head(pool_over_time(b, t, time_pooling, False)))


for _v in VARIANTS:
    register_model(_v.name, build_forecaster, _v, family="forecast", contract=_contract(_v))

__all__ += export_constructors(globals(), "forecast")
