"""Architecture families; importing this package registers every variant.

Every module here except ``base`` and ``weights_io`` is a family: it is imported (which
registers its variants) and its ``__all__`` (builders and constructors such as ``ResNet50``)
is re-exported, so a new family is one new file and nothing else.
"""

import importlib
import pkgutil

from kerasarch.models.base import ArchModel

_NOT_FAMILIES = {"base", "weights_io"}
FAMILY_MODULES = tuple(
    importlib.import_module(f"{__name__}.{info.name}")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name)
    if info.name not in _NOT_FAMILIES and not info.name.startswith("_")
)

__all__ = ["ArchModel"]
for _module in FAMILY_MODULES:
    for _name in _module.__all__:
        globals()[_name] = getattr(_module, _name)
    __all__ += list(_module.__all__)
