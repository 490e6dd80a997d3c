"""`python -m adcompiler.rules`: write docs/RULES.md; see `coverage`."""

import sys

from adcompiler.rules.coverage import main

sys.exit(main())
