"""`python -m kevy_server`: the same as the `kevy-server` console script."""

import sys

from .cli import main

sys.exit(main())
