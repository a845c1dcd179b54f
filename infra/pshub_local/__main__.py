"""``python -m pshub_local`` is ``pshub``."""

import sys

from pshub_local.cli import main

sys.exit(main())
