"""Names a package exports from a module that needs nats-py, imported on first use."""

from __future__ import annotations

import importlib
from collections.abc import Collection, MutableMapping
from typing import Any

__all__ = ["nats_attribute"]


def nats_attribute(
    namespace: MutableMapping[str, Any], module: str, names: Collection[str], name: str
) -> object:
    """A package's ``__getattr__`` for ``names``, defined in ``module`` (needs nats-py).

    Importing the package does not import nats-py (the ``[nats]`` extra); the first use
    of one of ``names`` imports ``module`` and keeps the name in ``namespace``.

    Args:
        namespace: The package's ``globals()``.
        module: The module defining ``names``, relative to the package (``"._x"``).
        names: The names it defines.
        name: The name asked for.

    Raises:
        AttributeError: ``name`` is not one of ``names``.
        ModuleNotFoundError: nats-py is missing (the message names the ``pip install``).
    """
    package = namespace["__name__"]
    if name not in names:
        msg = f"module {package!r} has no attribute {name!r}"
        raise AttributeError(msg)
    try:
        loaded = importlib.import_module(module, package)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != "nats":
            raise
        msg = f"{package}.{name} needs nats-py: pip install 'actorchestra[nats]'"
        raise ModuleNotFoundError(msg, name=exc.name) from None
    value = getattr(loaded, name)
    namespace[name] = value
    return value
