"""The webhook receiver for pushed reports and replies (§7, §9): an ASGI app."""

from __future__ import annotations

from ._access import DEFAULT_ALLOWED_IPS, AddressSet
from ._app import PushSink, WebhookReceiver
from ._server import receiver_config

__all__ = ["DEFAULT_ALLOWED_IPS", "AddressSet", "PushSink", "WebhookReceiver", "receiver_config"]
