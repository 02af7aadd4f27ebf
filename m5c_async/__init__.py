"""m5c_async: an asyncio client and sending engine for the 5c (美联软通) SMS platform, API 7.0.

Layers, from the top: ``cli`` -> ``engine`` -> ``AsyncClient`` -> ``protocol`` (pure) -> httpx.
The ``simulator`` and ``webhook`` packages reuse ``protocol`` and never import the engine.
"""

from __future__ import annotations

import importlib.metadata as _metadata

from ._config import Credentials, md5_hex, profile_for
from ._exceptions import (
    AccountBlockedError,
    AccountError,
    AllNodesFailedError,
    AmbiguousOutcomeError,
    AuthenticationError,
    BlacklistOperationError,
    ContentEncodingError,
    ContentError,
    EngineStoppedError,
    FormatError,
    FrequencyLimitError,
    InsufficientBalanceError,
    InvalidNumberError,
    InvalidParameterError,
    InvalidRequestError,
    InvalidTimeError,
    M5CError,
    MissingParameterError,
    NodeUnavailableError,
    ProviderError,
    ProviderRequestError,
    PushFormatError,
    ReplyFormatError,
    ReplyTooLargeError,
    Retry,
    SendRefusedError,
    ThrottledError,
    TransportError,
    UnauthorizedIPError,
    UnknownProviderError,
    UnrecognizedEncodingError,
)
from .client import AsyncClient, BreakerConfig, SendReceipt, Timeouts
from .protocol import (
    NODES,
    PROFILES,
    Balance,
    BatchItem,
    BillingEntry,
    BlacklistStatus,
    BusinessType,
    ChannelBalance,
    DeliveryReport,
    Encoding,
    InboundReply,
    Node,
    Profile,
    PushFormat,
    Recipients,
    Rejected,
    RejectReason,
    SendFormat,
    SendRecord,
)

try:
    __version__ = _metadata.version("m5c_async")
except (
    _metadata.PackageNotFoundError
):  # pragma: no cover - running from a source tree without metadata
    from ._version import __version__

__all__ = [
    "NODES",
    "PROFILES",
    "AccountBlockedError",
    "AccountError",
    "AllNodesFailedError",
    "AmbiguousOutcomeError",
    "AsyncClient",
    "AuthenticationError",
    "Balance",
    "BatchItem",
    "BillingEntry",
    "BlacklistOperationError",
    "BlacklistStatus",
    "BreakerConfig",
    "BusinessType",
    "ChannelBalance",
    "ContentEncodingError",
    "ContentError",
    "Credentials",
    "DeliveryReport",
    "Encoding",
    "EngineStoppedError",
    "FormatError",
    "FrequencyLimitError",
    "InboundReply",
    "InsufficientBalanceError",
    "InvalidNumberError",
    "InvalidParameterError",
    "InvalidRequestError",
    "InvalidTimeError",
    "M5CError",
    "MissingParameterError",
    "Node",
    "NodeUnavailableError",
    "Profile",
    "ProviderError",
    "ProviderRequestError",
    "PushFormat",
    "PushFormatError",
    "Recipients",
    "RejectReason",
    "Rejected",
    "ReplyFormatError",
    "ReplyTooLargeError",
    "Retry",
    "SendFormat",
    "SendReceipt",
    "SendRecord",
    "SendRefusedError",
    "ThrottledError",
    "Timeouts",
    "TransportError",
    "UnauthorizedIPError",
    "UnknownProviderError",
    "UnrecognizedEncodingError",
    "__version__",
    "md5_hex",
    "profile_for",
]
