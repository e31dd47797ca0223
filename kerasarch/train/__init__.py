"""Training helpers built on Keras's own optimizers, schedules, losses and callbacks."""

from kerasarch.train.callbacks import BestCheckpoint
from kerasarch.train.losses import SmoothedSparseCategoricalCrossentropy
from kerasarch.train.recipe import RECIPES, Recipe, compile_for_training, no_decay_variables

__all__ = ["BestCheckpoint", "RECIPES", "Recipe", "SmoothedSparseCategoricalCrossentropy", "compile_for_training",
           "no_decay_variables"]
