"""The webhook receiver for pushed delivery reports and replies (§7, §9): an ASGI app."""

from __future__ import annotations

from ._app import DEFAULT_ALLOWED_IPS, WebhookReceiver

__all__ = ["DEFAULT_ALLOWED_IPS", "WebhookReceiver"]
