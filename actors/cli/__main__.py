"""``python -m actors.cli``: the ``actorchestra`` command line (see :mod:`actors.cli`)."""

import sys

from actors.cli import main

sys.exit(main())
