"""actorchestra's ``bus``, loaded by its location (see :mod:`actorchestra`)."""

import sys

from ._shadowing import load

sys.modules[__name__] = load("bus")
