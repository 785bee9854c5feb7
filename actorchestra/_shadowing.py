"""Our top-level names, ``actors``, ``bus`` and ``memory``, shadowed by a user's folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["ROOT", "ShadowedPackageError", "check_not_shadowed", "load", "location"]

ROOT = Path(__file__).resolve().parents[1]
"""The folder holding this distribution's ``actors``, ``bus`` and ``memory``."""


class ShadowedPackageError(ImportError):
    """One of our package names is taken by another folder or module earlier on ``sys.path``.

    ``memory``, ``bus`` and ``actors`` are common folder names in agent applications;
    Python imports the first one it finds on ``sys.path`` (the script's folder first).

    Attributes:
        package: The name (``"memory"``, ``"bus"`` or ``"actors"``).
        found: Where the other one is.
    """

    def __init__(self, package: str, found: str) -> None:
        super().__init__(
            f"The package {package!r} imported here is {found}, not actorchestra's "
            f"({ROOT / package}): a folder or module of that name comes earlier on sys.path "
            f"(Python looks in the script's folder first). Rename your {package!r}, run from "
            f"another folder, or import actorchestra's packages as actorchestra.{package} "
            "(see the README, 'Import names').",
            name=package,
            path=found,
        )
        self.package = package
        self.found = found


def location(name: str) -> str | None:
    """Where the top-level module ``name`` is (or would be) imported from; ``None``: nowhere."""
    module = sys.modules.get(name)
    try:
        spec = module.__spec__ if module is not None else importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return str(Path(next(iter(spec.submodule_search_locations))).resolve())
    return str(Path(spec.origin).resolve()) if spec.origin else None


def check_not_shadowed(*names: str) -> None:
    """Raise if one of ``names`` would be imported from elsewhere than this distribution.

    Raises:
        ShadowedPackageError: It would, naming the folder and the fix.
    """
    for name in names:
        found = location(name)
        if found is not None and Path(found) != ROOT / name:
            raise ShadowedPackageError(name, found)


def load(name: str) -> ModuleType:
    """This distribution's top-level package ``name``, loaded from its folder if need be.

    Registered as ``sys.modules[name]``, so our packages' imports of each other, and the
    rest of the process, use it.

    Raises:
        ShadowedPackageError: Another module of that name was imported already.
    """
    module = sys.modules.get(name)
    if module is None:
        where = ROOT / name
        spec = importlib.util.spec_from_file_location(
            name, where / "__init__.py", submodule_search_locations=[str(where)]
        )
        if spec is None or spec.loader is None:  # pragma: no cover - the wheel has them
            msg = f"actorchestra's {name!r} is missing from {where}; reinstall actorchestra."
            raise ImportError(msg, name=name)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    check_not_shadowed(name)
    return module
