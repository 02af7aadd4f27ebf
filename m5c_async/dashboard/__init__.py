"""``m5c dashboard``: a live, read-only web page of a campaign journal (docs/dashboard.md).

One page, a small script and a style sheet served by the app itself (no build step, nothing
from another site), polling JSON snapshots of the journal read through a read-only connection.
"""

from __future__ import annotations

from ._app import LOOPBACK_HOSTS, DashboardApp
from ._reader import JournalReader
from ._server import dashboard_config

__all__ = ["LOOPBACK_HOSTS", "DashboardApp", "JournalReader", "dashboard_config"]
