"""Training helpers built on Keras's own optimizers, schedules, losses and callbacks."""

from kerasarch.train.callbacks import BestCheckpoint, ResumableBackup, StopOnNaN, training_callbacks
from kerasarch.train.evaluate import confusion_matrix, evaluate_classifier, plot_confusion_matrix
from kerasarch.train.losses import SmoothedSparseCategoricalCrossentropy
from kerasarch.train.recipe import RECIPES, Recipe, compile_for_training, no_decay_variables, resolve_recipe

__all__ = ["BestCheckpoint", "RECIPES", "Recipe", "ResumableBackup", "SmoothedSparseCategoricalCrossentropy",
           "StopOnNaN", "compile_for_training", "confusion_matrix", "evaluate_classifier", "no_decay_variables",
           "plot_confusion_matrix", "resolve_recipe", "training_callbacks"]
