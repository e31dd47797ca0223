"""Training helpers built on Keras's own optimizers, schedules, losses and callbacks."""

from kerasarch.train.callbacks import BestCheckpoint

__all__ = ["BestCheckpoint"]
