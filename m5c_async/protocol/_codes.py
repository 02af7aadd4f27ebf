"""Every ``error:...`` reply string of the document, mapped to one exception class.

The table covers §3.1.2 (send), §4.1.2 (balance and queries) and §10 (blacklist). The platform's
texts are matched exactly after trimming surrounding whitespace; ``error:`` followed by digits only
is the document's ``error:msgid`` (a refused submission). Anything else after ``error:`` becomes an
``UnknownProviderError`` carrying the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from .._exceptions import (
    AccountBlockedError,
    AuthenticationError,
    BlacklistOperationError,
    InsufficientBalanceError,
    MissingParameterError,
    ProviderError,
    Retry,
    SendRefusedError,
    ThrottledError,
    UnauthorizedIPError,
    UnknownProviderError,
    UnrecognizedEncodingError,
)

__all__ = ["CODES", "ErrorKind", "ProviderCode", "error_for_reply", "is_error_reply"]


class ErrorKind(StrEnum):
    """What an error means for whoever sent the request."""

    RETRY_SAFE = "retry-safe"
    """Refused without effect: send again later."""
    ACCOUNT_FATAL = "account-fatal"
    """Stop sending on this account until a person fixes it."""
    REQUEST = "request"
    """The request itself is wrong: fix it, do not repeat it."""
    REFUSED = "refused"
    """The platform refused this one submission."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderCode:
    """One documented error reply."""

    text: str
    error: type[ProviderError]
    kind: ErrorKind
    section: str
    meaning: str

    @property
    def retry(self) -> Retry:
        """The retry verdict of this reply."""
        return Retry.SAFE if self.kind is ErrorKind.RETRY_SAFE else Retry.POINTLESS


def _code(
    text: str, error: type[ProviderError], kind: ErrorKind, section: str, meaning: str
) -> ProviderCode:
    return ProviderCode(text=text, error=error, kind=kind, section=section, meaning=meaning)


_R, _F, _Q = ErrorKind.RETRY_SAFE, ErrorKind.ACCOUNT_FATAL, ErrorKind.REQUEST

#: Every error reply of the document, in the order the document lists them.
CODES: Final[tuple[ProviderCode, ...]] = (
    _code("error:Missing username", MissingParameterError, _Q, "3.1.2", "username empty"),
    _code("error:Missing password", MissingParameterError, _Q, "3.1.2", "password empty"),
    _code("error:Missing apikey", MissingParameterError, _Q, "3.1.2", "apikey empty"),
    _code("error:Missing recipient", MissingParameterError, _Q, "3.1.2", "mobile empty"),
    _code(
        "error:Missing message content",
        MissingParameterError,
        _Q,
        "3.1.2",
        "content empty or wrongly encoded",
    ),
    _code("error:Account is blocked", AccountBlockedError, _F, "3.1.2", "account disabled"),
    _code("error:Unrecognized encoding", UnrecognizedEncodingError, _Q, "3.1.2", "bad encode"),
    _code("error:APIKEY or password error", AuthenticationError, _F, "3.1.2", "wrong credentials"),
    _code("error:Unauthorized IP address", UnauthorizedIPError, _F, "3.1.2", "IP not bound"),
    _code(
        "error:Account balance is insufficient",
        InsufficientBalanceError,
        _F,
        "3.1.2",
        "balance too low",
    ),
    _code("error:Throughput Rate Exceeded", ThrottledError, _R, "3.1.2", "sending too fast"),
    _code(
        "error:Invalid md5 password length",
        AuthenticationError,
        _F,
        "3.1.2",
        "password_md5 not 32 characters",
    ),
    _code("error:Missing from parameter", MissingParameterError, _Q, "4.1.2", "from missing"),
    _code("error:Missing to parameter", MissingParameterError, _Q, "4.1.2", "to missing"),
    _code(
        "error:Non black number or no allow operation",
        BlacklistOperationError,
        ErrorKind.REFUSED,
        "10.2.2",
        "not blacklisted, or removal not allowed",
    ),
)

_BY_TEXT: Final[dict[str, ProviderCode]] = {c.text: c for c in CODES}
_REFUSED_MSGID = re.compile(r"error:\d{1,20}")


def is_error_reply(text: str) -> bool:
    """Return True when a reply body is an ``error:...`` answer."""
    return text.lstrip().startswith("error:")


def error_for_reply(
    text: str, *, node: str | None = None, endpoint: str | None = None
) -> ProviderError:
    """Build (not raise) the exception for an ``error:...`` reply.

    Args:
        text: the reply body, already decoded.
        node: the node that answered, for the message.
        endpoint: the endpoint's catalog name, for the message.

    Returns:
        The mapped exception; ``UnknownProviderError`` for texts the document does not list.
    """
    reply = text.strip()
    code = _BY_TEXT.get(reply)
    if code is not None:
        return code.error(reply, node=node, endpoint=endpoint)
    if _REFUSED_MSGID.fullmatch(reply):
        return SendRefusedError(reply, node=node, endpoint=endpoint)
    return UnknownProviderError(reply, node=node, endpoint=endpoint)
