"""Quiet start-up for the ``kerasarch`` command.

TensorFlow's C++ start-up lines (oneDNN, absl, CPU features) ignore TF_CPP_MIN_LOG_LEVEL and
would bury the command's one-line messages. When kerasarch is imported to run its command
(the console script, or ``python -m kerasarch.cli``), Keras and its backend are imported
with file descriptor 2 pointed at /dev/null; Python's errors come later, with stderr
restored. A library import (``import kerasarch`` in a user's program) is left alone, and
``KERASARCH_VERBOSE=1`` turns the silencing off.
"""

import os
import sys


def _launched_as_command():
    argv0 = sys.argv[0] if sys.argv else ""
    # "-m" while Python imports the package of ``python -m kerasarch.cli``.
    return os.path.basename(argv0) == "kerasarch" or argv0 == "-m"


def import_backend():
    if os.environ.get("KERASARCH_VERBOSE") or not _launched_as_command():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # a stderr without a descriptor
        return
    sys.stderr.flush()
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.constant(0)  # the second batch of start-up lines comes with the first op
    finally:
        sys.stderr.flush()
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)
