"""``python -m s2f`` (and ``torchrun -m s2f``): the ``s2f`` command line."""

import sys

from s2f.cli import main

sys.exit(main())
