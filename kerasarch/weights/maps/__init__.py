"""One file per family: which torch module each Keras layer of the family is.

Every module here is imported, so a new family's map is one new file.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
