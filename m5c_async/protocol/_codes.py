"""Every ``error:...`` reply string of the document, mapped to one exception class.

The table covers §3.1.2 (send), §4.1.2 (balance and queries) and §10 (blacklist). The platform's
texts are matched exactly after trimming surrounding whitespace; ``error:`` followed by digits only
is the document's ``error:msgid`` (a refused submission; the msgid is the error's ``msgid``).
Known variants of documented texts (``VARIANTS``) map like the text they vary. Anything else
after ``error:`` becomes an ``UnknownProviderError`` carrying the text.

What a reply means for the sender is its class's ``verdict`` (``_exceptions.py``): the table names
the class only, so the classification is written once.
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
    SendRefusedError,
    ThrottledError,
    UnauthorizedIPError,
    UnknownProviderError,
    UnrecognizedEncodingError,
    Verdict,
)

__all__ = [
    "CODES",
    "VARIANTS",
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


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderCode:
    """One documented error reply."""

    text: str
    error: type[ProviderError]
    section: str
    meaning: str

    @property
    def verdict(self) -> Verdict:
        """What this reply means for the sender: its class's verdict."""
        return self.error.verdict


def _code(text: str, error: type[ProviderError], section: str, meaning: str) -> ProviderCode:
    return ProviderCode(text=text, error=error, section=section, meaning=meaning)


#: Every error reply of the document, in the order the document lists them.
CODES: Final[tuple[ProviderCode, ...]] = (
    _code(ErrorReply.MISSING_USERNAME, MissingParameterError, "3.1.2", "username empty"),
    _code(ErrorReply.MISSING_PASSWORD, MissingParameterError, "3.1.2", "password empty"),
    _code(ErrorReply.MISSING_APIKEY, MissingParameterError, "3.1.2", "apikey empty"),
    _code(ErrorReply.MISSING_RECIPIENT, MissingParameterError, "3.1.2", "mobile empty"),
    _code(
        ErrorReply.MISSING_CONTENT,
        MissingParameterError,
        "3.1.2",
        "content empty or wrongly encoded",
    ),
    _code(ErrorReply.ACCOUNT_BLOCKED, AccountBlockedError, "3.1.2", "account disabled"),
    _code(ErrorReply.UNRECOGNIZED_ENCODING, UnrecognizedEncodingError, "3.1.2", "bad encode"),
    _code(ErrorReply.BAD_CREDENTIALS, AuthenticationError, "3.1.2", "wrong credentials"),
    _code(ErrorReply.UNAUTHORIZED_IP, UnauthorizedIPError, "3.1.2", "IP not bound"),
    _code(
        ErrorReply.INSUFFICIENT_BALANCE,
        InsufficientBalanceError,
        "3.1.2",
        "balance too low",
    ),
    _code(ErrorReply.THROTTLED, ThrottledError, "3.1.2", "sending too fast"),
    _code(
        ErrorReply.BAD_MD5_LENGTH,
        AuthenticationError,
        "3.1.2",
        "password_md5 not 32 characters",
    ),
    _code(ErrorReply.MISSING_FROM, MissingParameterError, "4.1.2", "from missing"),
    _code(ErrorReply.MISSING_TO, MissingParameterError, "4.1.2", "to missing"),
    _code(
        ErrorReply.BLACKLIST_REFUSED,
        BlacklistOperationError,
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
