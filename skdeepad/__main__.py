"""``python -m skdeepad``: run the ODDS benchmark (see :mod:`skdeepad._benchmark`)."""

import sys

from ._benchmark import main

if __name__ == "__main__":
    sys.exit(main())
