"""``python -m rljax.cli ...``: the same as the ``rljax`` console script."""

import sys

from rljax.cli import main

sys.exit(main())
