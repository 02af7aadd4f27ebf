"""Shared fixtures: credentials used across the suite."""

from __future__ import annotations

import signal

import pytest
from hypothesis import HealthCheck, settings

from m5c_async import Credentials

# No per-example deadline and no "too slow" health check: a property's examples are checked for
# what they return, and a loaded machine (CI, a benchmark beside the suite) makes any wall-clock
# limit a flake.
settings.register_profile("m5c", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("m5c")

# A suite started in the background (`make test &`, nohup, some CI runners) inherits SIGINT
# ignored, and every command the tests start would inherit that too: the Ctrl-C tests need it
# delivered. A handler (unlike SIG_IGN) is reset to the default in the children.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

PASSWORD = "s3cret-pass"
APIKEY = "d72f33697f8443b397bddba173e30410"


@pytest.fixture
def creds() -> Credentials:
    """A valid test account."""
    return Credentials.create(username="mlrt", password=PASSWORD, apikey=APIKEY)


class FakeClock:
    """A clock tests move by hand: ``clock()`` reads it, ``clock.advance(s)`` moves it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


#: Unix time of the fake clock's zero: 2023-11-14 22:13:20 UTC.
WALL_OFFSET = 1_700_000_000.0
