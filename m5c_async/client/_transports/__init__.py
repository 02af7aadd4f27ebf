"""The transports under ``AsyncClient``: the ``Wire`` protocol and its two implementations."""

from __future__ import annotations

from ._base import MaybeSent, NeverSent, Reply, ReplyTooLarge, Wire, describe
from ._fast import FastWire
from ._httpx import HttpxWire

__all__ = [
    "FastWire",
    "HttpxWire",
    "MaybeSent",
    "NeverSent",
    "Reply",
    "ReplyTooLarge",
    "Wire",
    "describe",
]
