"""actorchestra's ``memory``, loaded by its location (see :mod:`actorchestra`)."""

import sys

from ._shadowing import load

load("bus")
sys.modules[__name__] = load("memory")
