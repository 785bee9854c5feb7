"""actorchestra's ``actors``, loaded by its location (see :mod:`actorchestra`)."""

import sys

from ._shadowing import load

load("bus")
load("memory")
sys.modules[__name__] = load("actors")
