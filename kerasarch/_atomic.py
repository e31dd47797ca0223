"""Write a file or a folder so that the target either appears complete or not at all."""

import contextlib
import os
import shutil
import tempfile

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(target, *, is_dir=False, suffix="", overwrite=True):
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    The temporary sits in the same folder, so the final ``os.replace`` is one atomic rename
    on the same file system. On an exception (or a kill) the target is untouched and the
    temporary is removed (a kill leaves only a hidden ``.<name>.tmp-*`` entry behind).
    ``suffix`` keeps an extension some writers insist on (Keras wants ``.keras``).
    """
    target = os.path.abspath(os.fspath(target))
    folder, name = os.path.split(target)
    os.makedirs(folder, exist_ok=True)
    if not overwrite and os.path.exists(target):
        raise FileExistsError(f"{target} exists; pass overwrite=True to replace it.")
    tmp_dir = tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=folder)
    tmp = os.path.join(tmp_dir, "payload" + suffix)
    try:
        yield tmp
        if not os.path.exists(tmp):
            raise RuntimeError(f"nothing was written to the temporary path for {target}")
        if is_dir and os.path.isdir(target) and overwrite:
            # A directory cannot be replaced in one step: move the old one aside first.
            old = tempfile.mkdtemp(prefix=f".{name}.old-", dir=folder)
            os.replace(target, os.path.join(old, "old"))
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
