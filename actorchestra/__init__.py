"""actorchestra: ``actors``, ``bus`` and ``memory`` under one name no folder of yours takes.

The three packages are top-level names, and ``memory``, ``bus`` or ``actors`` is a
common folder name in an application: one earlier on ``sys.path`` (the script's folder
comes first) would be imported instead, and our packages refuse to run with it
(:class:`ShadowedPackageError` names the folder and the fix). ``import
actorchestra.memory`` (``.bus``, ``.actors``) loads this distribution's package by its
location, whatever ``sys.path`` holds, and registers it under its own name too, so the
rest of the process (and our packages' imports of each other) uses it. Your own folder
of that name can then not be imported as a top-level package in that process: rename
it, or import it as a subpackage of your application.

Example:
    >>> import actorchestra.memory
    >>> actorchestra.memory.SQLiteEventLog.__module__
    'memory._sqlite_event_log'
"""

from ._shadowing import ShadowedPackageError as ShadowedPackageError

__all__ = ["ShadowedPackageError"]
