"""Every ``error:...`` reply string of the document, mapped to one exception class.

The table covers §3.1.2 (send), §4.1.2 (balance and queries) and §10 (blacklist). The platform's
texts are matched exactly after trimming surrounding whitespace; ``error:`` followed by digits only
is the document's ``error:msgid`` (a refused submission; the msgid is the error's ``msgid``).
Known variants of documented texts (``VARIANTS``) map like the text they vary. Anything else
after ``error:`` becomes an ``UnknownProviderError`` carrying the text.
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

__all__ = [
    "CODES",
    "VARIANTS",
    "ErrorKind",
    "ErrorReply",
    "ProviderCode",
    "error_for_reply",
    "is_error_reply",
]


class ErrorReply(StrEnum):
    """The text of every error reply the document lists (§3.1.2, §4.1.2, §10.2.2), by name.

    ``CODES`` classifies each; the simulator answers with them, so no text is typed twice.
    """

    MISSING_USERNAME = "error:Missing username"
    MISSING_PASSWORD = "error:Missing password"  # noqa: S105 - a reply text, not a secret
    MISSING_APIKEY = "error:Missing apikey"
    MISSING_RECIPIENT = "error:Missing recipient"
    MISSING_CONTENT = "error:Missing message content"
    ACCOUNT_BLOCKED = "error:Account is blocked"
    UNRECOGNIZED_ENCODING = "error:Unrecognized encoding"
    BAD_CREDENTIALS = "error:APIKEY or password error"
    UNAUTHORIZED_IP = "error:Unauthorized IP address"
    INSUFFICIENT_BALANCE = "error:Account balance is insufficient"
    THROTTLED = "error:Throughput Rate Exceeded"
    BAD_MD5_LENGTH = "error:Invalid md5 password length"
    MISSING_FROM = "error:Missing from parameter"
    MISSING_TO = "error:Missing to parameter"
    BLACKLIST_REFUSED = "error:Non black number or no allow operation"


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
    _code(ErrorReply.MISSING_USERNAME, MissingParameterError, _Q, "3.1.2", "username empty"),
    _code(ErrorReply.MISSING_PASSWORD, MissingParameterError, _Q, "3.1.2", "password empty"),
    _code(ErrorReply.MISSING_APIKEY, MissingParameterError, _Q, "3.1.2", "apikey empty"),
    _code(ErrorReply.MISSING_RECIPIENT, MissingParameterError, _Q, "3.1.2", "mobile empty"),
    _code(
        ErrorReply.MISSING_CONTENT,
        MissingParameterError,
        _Q,
        "3.1.2",
        "content empty or wrongly encoded",
    ),
    _code(ErrorReply.ACCOUNT_BLOCKED, AccountBlockedError, _F, "3.1.2", "account disabled"),
    _code(ErrorReply.UNRECOGNIZED_ENCODING, UnrecognizedEncodingError, _Q, "3.1.2", "bad encode"),
    _code(ErrorReply.BAD_CREDENTIALS, AuthenticationError, _F, "3.1.2", "wrong credentials"),
    _code(ErrorReply.UNAUTHORIZED_IP, UnauthorizedIPError, _F, "3.1.2", "IP not bound"),
    _code(
        ErrorReply.INSUFFICIENT_BALANCE,
        InsufficientBalanceError,
        _F,
        "3.1.2",
        "balance too low",
    ),
    _code(ErrorReply.THROTTLED, ThrottledError, _R, "3.1.2", "sending too fast"),
    _code(
        ErrorReply.BAD_MD5_LENGTH,
        AuthenticationError,
        _F,
        "3.1.2",
        "password_md5 not 32 characters",
    ),
    _code(ErrorReply.MISSING_FROM, MissingParameterError, _Q, "4.1.2", "from missing"),
    _code(ErrorReply.MISSING_TO, MissingParameterError, _Q, "4.1.2", "to missing"),
    _code(
        ErrorReply.BLACKLIST_REFUSED,
        BlacklistOperationError,
        ErrorKind.REFUSED,
        "10.2.2",
        "not blacklisted, or removal not allowed",
    ),
)

#: Replies the document does not list but public 5c integrations show, mapped like their
#: documented form (``password_md5`` instead of ``password`` in the credentials error).
VARIANTS: Final[tuple[ProviderCode, ...]] = (
    _code(
        "error:APIKEY or password_md5 error",
        AuthenticationError,
        _F,
        "variant of 3.1.2",
        "wrong credentials",
    ),
)

_BY_TEXT: Final[dict[str, ProviderCode]] = {c.text: c for c in (*CODES, *VARIANTS)}
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
        return SendRefusedError(
            reply, msgid=reply.removeprefix("error:"), node=node, endpoint=endpoint
        )
    return UnknownProviderError(reply, node=node, endpoint=endpoint)
