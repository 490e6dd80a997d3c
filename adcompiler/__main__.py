"""`python -m adcompiler` runs the command-line interface."""

import sys

from adcompiler.cli import main

sys.exit(main())
