"""Write docs/RULES.md: `python -m adcompiler.rules` runs `coverage.main`."""

import sys

from adcompiler.rules.coverage import main

sys.exit(main())
