"""``python -m m5c_async``: the ``m5c`` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
