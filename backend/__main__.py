"""`python -m backend ...`: see backend.cli.main."""

import sys

from backend.cli.main import main

sys.exit(main())
