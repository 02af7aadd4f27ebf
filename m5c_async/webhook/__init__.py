"""The webhook receiver for pushed reports and replies (§7, §9): an ASGI app."""

from __future__ import annotations

from ._access import DEFAULT_ALLOWED_IPS, AddressSet
from ._app import PushSink, WebhookReceiver

__all__ = ["DEFAULT_ALLOWED_IPS", "AddressSet", "PushSink", "WebhookReceiver"]
