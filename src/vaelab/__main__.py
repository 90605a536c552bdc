"""``python -m vaelab``."""

import sys

from vaelab.cli import main

if __name__ == "__main__":
    sys.exit(main())
