"""Training helpers built on Keras's own optimizers, schedules, losses and callbacks."""

from kerasarch.train.callbacks import (BestCheckpoint, PatienceStop, Position, ResumableBackup, RunState, StopOnNaN,
                                       training_callbacks)
from kerasarch.train.diagnostics import GradientFlow, gradient_norms, plot_gradient_flow
from kerasarch.train.distill import Distiller
from kerasarch.train.evaluate import confusion_matrix, evaluate_classifier, plot_confusion_matrix
from kerasarch.train.losses import SmoothedSparseCategoricalCrossentropy
from kerasarch.train.recipe import RECIPES, Recipe, compile_for_training, no_decay_variables, resolve_recipe
from kerasarch.train.transfer import compile_transfer, freeze, transfer_model, unfreeze

__all__ = ["BestCheckpoint", "PatienceStop", "Position", "RunState", "Distiller", "GradientFlow", "RECIPES",
           "Recipe", "ResumableBackup", "SmoothedSparseCategoricalCrossentropy", "StopOnNaN", "compile_for_training",
           "confusion_matrix", "evaluate_classifier", "no_decay_variables", "plot_confusion_matrix",
           "resolve_recipe", "training_callbacks", "gradient_norms", "plot_gradient_flow", "compile_transfer",
           "freeze", "transfer_model", "unfreeze"]
