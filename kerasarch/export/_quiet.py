"""Hide what TensorFlow and tf2onnx print while tracing an export (file descriptors 1 and 2)."""

import contextlib
import os
import sys
import tempfile

from kerasarch.export.serving import ExportError

__all__ = ["quiet"]


@contextlib.contextmanager
def quiet(verbose=False):
    """Hide what TensorFlow and tf2onnx print while tracing (file descriptors 1 and 2).

    On an exception the hidden text is written to stderr, so nothing useful is lost.
    """
    if verbose:
        yield
        return
    import logging

    loggers = [logging.getLogger(n) for n in ("tf2onnx", "tensorflow", "absl")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        failed = False
        try:
            yield
        except (ExportError, ValueError):
            raise  # explained errors: the hidden tracing text would only bury the message
        except BaseException:
            failed = True
            raise
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)
            if failed:
                sink.seek(0)
                tail = sink.read()[-20000:].decode(errors="replace")
                if tail.strip():
                    sys.stderr.write(tail)


