"""Recurrent blocks around Keras's own cells, and attention over time.

The cells are Keras's (``keras.layers.LSTM``, ``GRU``, ``SimpleRNN``, ``Bidirectional``): they
run on every backend and take cuDNN on a GPU when their options allow it (no recurrent
dropout, right-padded masks). What is kerasarch's is the architecture around them:

* :class:`RecurrentLayer`: one level of a stacked (bi)recurrent encoder, with dropout on its
  output, and a residual connection and LayerNorm when its input is as wide as its output
  (Wu et al. 2016, GNMT, add residuals between stacked LSTMs to train deep stacks).
* :class:`LastStepPooling`: the final state, read at each sequence's last real step.
* :class:`AttentionPooling`: a learned weighted mean over the real steps (Yang et al. 2016).
* :class:`SequenceAttention`: one query sequence attending over another, with Bahdanau's
  additive score (Bahdanau et al. 2015) or Luong's multiplicative ones (Luong et al. 2015).
* :class:`AttentionDecoder`: a sequence-to-sequence decoder, recurrent levels whose states
  start from the encoder's, then attention over the encoder's outputs; one call for teacher
  forcing over a whole target, one ``step`` for decoding a token at a time.

A padding mask (batch, steps), True for real steps, is taken explicitly by every ``call`` so
that nothing depends on Keras's implicit mask propagation, which not every layer follows.
"""

import keras
from keras import ops

from kerasarch.layers import _checks
from kerasarch.layers.pooling import PoolOverSteps

__all__ = ["AttentionDecoder", "AttentionPooling", "CELLS", "LastStepPooling", "RecurrentLayer", "SequenceAttention"]

CELLS = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}
# Per-cell count of gate blocks: what the parameter formulas (tests) and docs refer to.
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
# States a cell carries: an LSTM its output h and its memory c, the others h only.
STATES = {"lstm": 2, "gru": 1, "rnn": 1}


@keras.saving.register_keras_serializable(package="kerasarch")
class RecurrentLayer(keras.layers.Layer):
    """One level of a recurrent stack: (batch, steps, C) -> (batch, steps, units * directions),
    or the last state (batch, units * directions) with ``return_sequences=False``.

    Args:
        units: the cell's width.
        cell: "lstm", "gru" or "rnn" (``keras.layers.SimpleRNN``, tanh).
        bidirectional: run a second cell backwards and concatenate the two (Schuster &
            Paliwal 1997); the "last" state is then the forward cell's at the last real step
            and the backward cell's at the first.
        dropout: rate of the dropout on this level's output (what the next level sees).
        residual: add the input to the output; only where the widths are equal (checked
            when the layer is built).
        layer_norm: a LayerNorm on the (residual) output.
        return_sequences: every step's output (True) or the last state (False).
        unroll: unroll the time loop into one graph op per step (Keras's ``unroll``): for a
            fixed, short length only; ONNX export unrolls this way, because tf2onnx cannot
            convert the TensorList ops of TensorFlow's while loop.

    Padded steps (``mask`` False) leave the state unchanged, so a sequence's outputs do not
    depend on how much padding follows it; their own outputs are zeros.
    """

    def __init__(self, units, cell="lstm", bidirectional=False, dropout=0.0, residual=False, layer_norm=False,
                 return_sequences=True, unroll=False, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.units = _checks.positive_int(who, "units", units)
        self.cell = _checks.one_of(who, "cell", cell, tuple(CELLS))
        self.bidirectional = _checks.flag(who, "bidirectional", bidirectional)
        self.dropout = _checks.rate(who, "dropout", dropout)
        self.residual = _checks.flag(who, "residual", residual)
        self.layer_norm = _checks.flag(who, "layer_norm", layer_norm)
        self.return_sequences = _checks.flag(who, "return_sequences", return_sequences)
        self.unroll = _checks.flag(who, "unroll", unroll)
        if self.residual and not self.return_sequences:
            raise ValueError(f"{who}: residual=True adds the input sequence to the output sequence; it needs "
                             "return_sequences=True.")
        rnn = CELLS[self.cell](self.units, return_sequences=self.return_sequences, unroll=self.unroll, name=self.cell)
        self.rnn = keras.layers.Bidirectional(rnn, name="bidirectional") if self.bidirectional else rnn
        self.drop = keras.layers.Dropout(self.dropout) if self.dropout else None
        self.norm = keras.layers.LayerNormalization(epsilon=1e-5, name="norm") if self.layer_norm else None
        self.supports_masking = True

    @property
    def output_width(self):
        return self.units * (2 if self.bidirectional else 1)

    def build(self, input_shape):
        if self.residual and input_shape[-1] != self.output_width:
            raise ValueError(
                f"{_checks.owner(self)}: residual=True needs the input as wide as the output "
                f"({self.output_width} = units{' x 2 directions' if self.bidirectional else ''}), got "
                f"{input_shape[-1]} features. Leave residual off for this level (a stack adds residuals "
                "only between levels of equal width).")
        self.rnn.build(input_shape)
        out = (*input_shape[:-1], self.output_width) if self.return_sequences else (input_shape[0], self.output_width)
        if self.norm is not None:
            self.norm.build(out)

    def call(self, x, mask=None, training=None):
        y = self.rnn(x, mask=mask, training=training)
        if self.drop is not None:
            y = self.drop(y, training=training)
        if self.residual:
            y = y + x
        if self.norm is not None:
            y = self.norm(y)
        if mask is not None and self.return_sequences:
            # Padded steps are zeros (with a residual, the input's padding would leak through).
            y = y * ops.cast(ops.expand_dims(mask, -1), y.dtype)
        return y

    def compute_mask(self, x, mask=None):
        return mask if self.return_sequences else None

    def compute_output_shape(self, input_shape):
        if self.return_sequences:
            return (*input_shape[:-1], self.output_width)
        return (input_shape[0], self.output_width)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, cell=self.cell, bidirectional=self.bidirectional, dropout=self.dropout,
                      residual=self.residual, layer_norm=self.layer_norm, return_sequences=self.return_sequences,
                      unroll=self.unroll)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class LastStepPooling(PoolOverSteps):
    """(batch, steps, C) -> (batch, C): a recurrent stack's final state read off its output
    sequence, at each sequence's last real step (the mask's), so padding does not move it.

    Args:
        bidirectional: the input is a bidirectional level's output, [forward | backward]: the
            forward half is read at the last real step and the backward half at the first,
            where the backward cell ends (what ``return_sequences=False`` would return).

    Reading the state off the sequence, rather than asking the last level for its state, keeps
    every level's sequence available as a feature (``features_only``, ``include_top=False``).
    """

    def __init__(self, bidirectional=False, **kwargs):
        super().__init__(**kwargs)
        self.bidirectional = _checks.flag(_checks.owner(self, kwargs), "bidirectional", bidirectional)

    def call(self, x, mask=None):
        steps = ops.shape(x)[1]
        if mask is None:
            last = ops.full((ops.shape(x)[0],), steps - 1, dtype="int32")
        else:
            last = ops.maximum(ops.sum(ops.cast(mask, "int32"), axis=1) - 1, 0)
        at_last = ops.take_along_axis(x, ops.reshape(last, (-1, 1, 1)), axis=1)[:, 0]
        if not self.bidirectional:
            return at_last
        half = x.shape[-1] // 2
        return ops.concatenate([at_last[:, :half], x[:, 0, half:]], axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(bidirectional=self.bidirectional)
        return config


def _masked_softmax(scores, mask):
    """Softmax over the last axis where ``mask`` (broadcastable, bool) is True; a row with no
    True gets zeros, not NaN."""
    if mask is None:
        return ops.softmax(scores, axis=-1)
    lowest = ops.convert_to_tensor(-65504.0 if scores.dtype == "float16" else -1e9, dtype=scores.dtype)
    weights = ops.softmax(ops.where(mask, scores, lowest), axis=-1)
    return weights * ops.cast(mask, weights.dtype)


@keras.saving.register_keras_serializable(package="kerasarch")
class AttentionPooling(PoolOverSteps):
    """(batch, steps, C) -> (batch, C): ``sum_t a_t h_t`` with ``a = softmax_t(v . tanh(W h_t + b))``
    over the real steps (Yang et al. 2016's word attention; Raffel & Ellis 2015).

    Args:
        units: width of the scoring layer ``W``.
    """

    def __init__(self, units=64, **kwargs):
        super().__init__(**kwargs)
        self.units = _checks.positive_int(_checks.owner(self, kwargs), "units", units)
        self.project = keras.layers.Dense(self.units, activation="tanh", name="project")
        self.score = keras.layers.Dense(1, use_bias=False, name="score")

    def build(self, input_shape):
        self.project.build(input_shape)
        self.score.build((*input_shape[:-1], self.units))

    def weights_over_steps(self, x, mask=None):
        """The attention weights (batch, steps): what the pooling averages with."""
        scores = ops.squeeze(self.score(self.project(x)), -1)
        return _masked_softmax(scores, None if mask is None else ops.cast(mask, "bool"))

    def call(self, x, mask=None):
        weights = self.weights_over_steps(x, mask)
        return ops.sum(x * ops.expand_dims(weights, -1), axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units)
        return config


SCORES = ("additive", "general", "dot")


@keras.saving.register_keras_serializable(package="kerasarch")
class SequenceAttention(keras.layers.Layer):
    """Each query step attends over the steps of a memory: ``(query (batch, tq, dq), memory
    (batch, tm, dm))`` -> ``(context (batch, tq, dm), weights (batch, tq, tm))``.

    Args:
        units: width of the additive score's hidden layer (``"additive"`` only).
        score: ``"additive"``, Bahdanau's ``v . tanh(W_q q + W_m m)``; ``"general"``, Luong's
            ``q . W m``; ``"dot"``, Luong's ``q . m`` (needs ``dq == dm``, and no weights).

    Keras's ``AdditiveAttention`` and ``Attention`` have no projections (they score ``q + m``
    and ``q . m`` directly), so query and memory must share a width and the score cannot learn
    which features to compare; these are the papers' forms. Masked memory steps (``memory_mask``
    False) get zero weight.
    """

    def __init__(self, units=None, score="additive", **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.score = _checks.one_of(who, "score", score, SCORES)
        if self.score == "additive":
            self.units = _checks.positive_int(who, "units", units, hint="the additive score needs its width.")
            self.query_proj = keras.layers.Dense(self.units, use_bias=False, name="query_proj")
            self.memory_proj = keras.layers.Dense(self.units, name="memory_proj")
            self.v = keras.layers.Dense(1, use_bias=False, name="v")
        else:
            if units is not None:
                raise ValueError(f"{who}: units applies to score='additive' only; the {score!r} score has none.")
            self.units = None
        # The memory's padding comes in as memory_mask; a Keras mask riding on it is consumed here.
        self.supports_masking = True

    def compute_mask(self, *args, **kwargs):
        return None

    def build(self, query_shape, memory_shape):
        dq, dm = query_shape[-1], memory_shape[-1]
        if self.score == "additive":
            self.query_proj.build(query_shape)
            self.memory_proj.build(memory_shape)
            self.v.build((None, None, self.units))
        elif self.score == "general":
            self.kernel = self.add_weight(name="kernel", shape=(dm, dq), initializer="glorot_uniform")
        elif dq != dm:
            raise ValueError(f"{_checks.owner(self)}: score='dot' compares query and memory features one to one, "
                             f"so their widths must agree, got {dq} and {dm}; use score='general' (a learned "
                             "projection between them).")

    def project_memory(self, memory):
        """The part of the score that depends on the memory only: computed once per sequence
        (a decoder reuses it at every step)."""
        if self.score == "additive":
            return self.memory_proj(memory)
        if self.score == "general":
            return ops.matmul(memory, ops.cast(self.kernel, memory.dtype))
        return memory

    def scores(self, query, projected_memory):
        """(batch, tq, tm) scores of each query step against each memory step."""
        if self.score == "additive":
            q = ops.expand_dims(self.query_proj(query), 2)
            return ops.squeeze(self.v(ops.tanh(q + ops.expand_dims(projected_memory, 1))), -1)
        return ops.matmul(query, ops.transpose(projected_memory, (0, 2, 1)))

    def call(self, query, memory, memory_mask=None, projected_memory=None):
        projected = self.project_memory(memory) if projected_memory is None else projected_memory
        scores = self.scores(query, projected)
        mask = None if memory_mask is None else ops.expand_dims(ops.cast(memory_mask, "bool"), 1)
        weights = _masked_softmax(scores, mask)
        return ops.matmul(weights, memory), weights

    def compute_output_shape(self, query_shape, memory_shape):
        return (*query_shape[:-1], memory_shape[-1]), (*query_shape[:-1], memory_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, score=self.score)
        return config


@keras.saving.register_keras_serializable(package="kerasarch")
class AttentionDecoder(keras.layers.Layer):
    """A sequence-to-sequence decoder: ``(target (batch, tq, E), memory (batch, tm, M),
    summary (batch, S))`` -> ``(attentional states (batch, tq, units), weights (batch, tq, tm))``.

    ``levels`` recurrent levels (Keras's cells) read the target embeddings; their first
    states are ``tanh(W summary)``, the encoder's final state carried over (Bahdanau et al.
    2015 start their decoder this way; a bidirectional encoder is wider than the decoder, so
    it is a projection, not a copy). The last level's output ``h_t`` queries the memory
    (:class:`SequenceAttention`: ``score`` "additive" is Bahdanau's, "general" and "dot"
    Luong's), and the attentional state is ``tanh(W_c [context_t; h_t])`` (Luong et al. 2015,
    eq. 5), what the output layer reads. Attention follows the recurrent step, as in Luong's
    global attention, so teacher forcing runs every level over the whole target at once (and
    on cuDNN); Bahdanau's form, which feeds the context into the cell, has to run the cell a
    step at a time in training too.

    Args:
        units: width of every level and of the attentional state.
        cell: "lstm", "gru" or "rnn".
        levels: recurrent levels.
        score: the attention score ("additive", "general", "dot").
        attention_units: width of the additive score (default ``units``).
        dropout: on each level's input (the embeddings and between levels), in training only.
    """

    def __init__(self, units, cell="lstm", levels=1, score="additive", attention_units=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        who = _checks.owner(self, kwargs)
        self.units = _checks.positive_int(who, "units", units)
        self.cell = _checks.one_of(who, "cell", cell, tuple(CELLS))
        self.levels = _checks.positive_int(who, "levels", levels)
        self.score = _checks.one_of(who, "score", score, SCORES)
        if attention_units is not None:
            _checks.positive_int(who, "attention_units", attention_units)
        self.attention_units = attention_units
        self.dropout = _checks.rate(who, "dropout", dropout)
        self.rnns = [CELLS[self.cell](self.units, return_sequences=True, name=f"{self.cell}{i + 1}")
                     for i in range(self.levels)]
        self.bridge = keras.layers.Dense(self.levels * STATES[self.cell] * self.units, activation="tanh",
                                         name="bridge")
        self.attention = SequenceAttention(attention_units or self.units if self.score == "additive" else None,
                                           score=self.score, name="attention")
        self.combine = keras.layers.Dense(self.units, activation="tanh", use_bias=False, name="combine")
        self.drop = keras.layers.Dropout(self.dropout) if self.dropout else None
        self.supports_masking = True  # the masks come in as target_mask and memory_mask

    def compute_mask(self, *args, **kwargs):
        return None

    def build(self, target_shape, memory_shape, summary_shape):
        width = target_shape[-1]
        for rnn in self.rnns:
            rnn.build((None, None, width))
            width = self.units
        self.bridge.build(summary_shape)
        self.attention.build((None, None, self.units), memory_shape)
        self.combine.build((None, None, self.units + memory_shape[-1]))

    def initial_states(self, summary):
        """Each level's first states (a list per level) from the encoder's ``summary``."""
        flat = self.bridge(summary)
        n = STATES[self.cell]
        parts = [flat[:, i * self.units:(i + 1) * self.units] for i in range(self.levels * n)]
        return [parts[i * n:(i + 1) * n] for i in range(self.levels)]

    def _attend(self, h, memory, memory_mask, projected_memory=None):
        context, weights = self.attention(h, memory, memory_mask=memory_mask, projected_memory=projected_memory)
        return self.combine(ops.concatenate([context, h], axis=-1)), weights

    def call(self, target, memory, summary, target_mask=None, memory_mask=None, training=None):
        states = self.initial_states(summary)
        x = target
        for rnn, state in zip(self.rnns, states):
            if self.drop is not None:
                x = self.drop(x, training=training)
            x = rnn(x, initial_state=state, mask=target_mask, training=training)
        return self._attend(x, memory, memory_mask)

    def step(self, token, states, memory, memory_mask=None, projected_memory=None):
        """One decoding step: the embedded previous token (batch, E) and each level's states
        -> (attentional state (batch, units), new states, attention weights (batch, tm)).
        The same weights as :meth:`call` (each Keras layer's own cell), in inference mode;
        ``projected_memory`` (``self.attention.project_memory(memory)``) saves recomputing
        the memory's half of the score at every step."""
        x, new_states = token, []
        for rnn, state in zip(self.rnns, states):
            x, state = rnn.cell(x, state, training=False)
            new_states.append(list(state) if isinstance(state, (list, tuple)) else [state])
        out, weights = self._attend(ops.expand_dims(x, 1), memory, memory_mask, projected_memory)
        return out[:, 0], new_states, weights[:, 0]

    def compute_output_shape(self, target_shape, memory_shape, summary_shape):
        return (*target_shape[:-1], self.units), (*target_shape[:-1], memory_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(units=self.units, cell=self.cell, levels=self.levels, score=self.score,
                      attention_units=self.attention_units, dropout=self.dropout)
        return config
