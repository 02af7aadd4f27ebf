"""Shared fixtures: credentials used across the suite."""

from __future__ import annotations

import pytest

from m5c_async import Credentials

PASSWORD = "s3cret-pass"
APIKEY = "d72f33697f8443b397bddba173e30410"


@pytest.fixture
def creds() -> Credentials:
    """A valid test account."""
    return Credentials.create(username="mlrt", password=PASSWORD, apikey=APIKEY)
