"""The one exception tree of m5c_async.

Every error the library raises is an ``M5CError``, and every one carries one ``verdict``: what
sending the same request again would do. That verdict is the library's only classification of
failures: the client sets it, the engine dispatches on it (``SAFE``: back off and send again;
``THROTTLED``: slow down and send again; ``UNSAFE``: reconcile against the records, never resend
blindly; ``FATAL``: stop the run; ``POINTLESS``: the packet failed for good). The tree, with each
class's verdict (a test compares this drawing with the classes)::

    M5CError                           pointless unless a subclass says otherwise
    ├── InvalidRequestError            caught before anything is sent (pointless)
    │   ├── InvalidNumberError         a recipient that is not a valid mobile number
    │   ├── ContentError               empty, over 500 characters, NUL bytes
    │   │   └── ContentEncodingError   a character the chosen ``encode`` cannot carry
    │   ├── InvalidTimeError           naive datetimes, times out of range
    │   └── InvalidParameterError      any other argument or setting out of range (a ValueError)
    │       ├── SourceError            a campaign source that cannot be read (CSV columns, UTF-8)
    │       ├── SettingsError          an ``M5C_*`` environment variable with a bad value
    │       └── ControlCharacterError  CR, LF or another control character in a URL, path or header
    ├── ProviderError                  the platform answered ``error:...`` (pointless)
    │   ├── AccountError               fatal for the account: stop sending (fatal)
    │   │   ├── AuthenticationError    wrong apikey or password, bad md5 length
    │   │   ├── AccountBlockedError    the account is disabled
    │   │   ├── UnauthorizedIPError    the request came from an unbound address
    │   │   └── InsufficientBalanceError
    │   ├── ProviderRequestError       the platform found the request incomplete (pointless)
    │   │   ├── MissingParameterError  missing username/password/apikey/recipient/content/from/to
    │   │   └── UnrecognizedEncodingError
    │   ├── ThrottledError             ``Throughput Rate Exceeded``: slow down, resend (throttled)
    │   ├── SendRefusedError           ``error:<msgid>``: the platform refused this submission
    │   ├── BlacklistOperationError    not blacklisted, or not allowed to remove
    │   └── UnknownProviderError       an ``error:`` text the document does not list
    ├── FormatError                    text that is not in the documented shape (pointless)
    │   ├── ReplyFormatError           a reply of the platform
    │   └── PushFormatError            a pushed report or reply (webhook input)
    ├── TransportError                 the network between us and a node (unsafe)
    │   ├── NodeUnavailableError       the request never left (connect/DNS): safe elsewhere (safe)
    │   ├── AmbiguousOutcomeError      it may have been accepted: reconcile (unsafe)
    │   ├── SendInterruptedError       stopped with it in flight past stop_grace (unsafe)
    │   ├── AllNodesFailedError        every node failed (safe when every failure was safe)
    │   │   └── AllNodesRefusedError   every node refused it with an HTTP 4xx (pointless)
    │   ├── HTTPStatusError            a node answered an HTTP status that is not 2xx (unsafe
    │   │                              when it may have been processed, pointless after a 4xx)
    │   └── ReplyTooLargeError         a reply body above the client's limit
    ├── JournalError                   a campaign journal cannot do what was asked (pointless)
    │   ├── CampaignNotFoundError      no such campaign in the journal
    │   ├── JournalNotFoundError       no journal file where one must already exist
    │   ├── CampaignBusyError          another live process owns the campaign (fatal)
    │   ├── CampaignExistsError        ``run`` again on the same numbers and content: resume it
    │   ├── CampaignMismatchError      options that contradict the stored campaign
    │   ├── JournalWriteError          a write failed: disk full, read-only, I/O (fatal)
    │   ├── JournalCorruptError        the file is not a sound SQLite journal (fatal)
    │   └── QuarantineFullError        a push's unreadable part would pass the quarantine's limit
    ├── FrequencyLimitError            the per-number guard refused a send (pointless now)
    ├── GuardFullError                 the local guard is full of open windows (pointless now)
    ├── SharedStoreError               the Redis of a shared pacer or guard failed (pointless)
    │   ├── RedisAuthError             wrong password or user, no permission: never retried (fatal)
    │   └── RedisUnavailableError      unreachable for longer than allowed; nothing sent (safe)
    ├── EngineStoppedError             the engine stopped before the message was sent (safe)
    └── UnexpectedError                any other exception met while sending, wrapped (unsafe
                                       when the request may have left, else pointless)

No exception message, repr or attribute ever carries the password, its md5 or the apikey.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AccountBlockedError",
    "AccountError",
    "AllNodesFailedError",
    "AllNodesRefusedError",
    "AmbiguousOutcomeError",
    "AuthenticationError",
    "BlacklistOperationError",
    "CampaignBusyError",
    "CampaignExistsError",
    "CampaignMismatchError",
    "CampaignNotFoundError",
    "ContentEncodingError",
    "ContentError",
    "ControlCharacterError",
    "EngineStoppedError",
    "FormatError",
    "FrequencyLimitError",
    "GuardFullError",
    "HTTPStatusError",
    "InsufficientBalanceError",
    "InvalidNumberError",
    "InvalidParameterError",
    "InvalidRequestError",
    "InvalidTimeError",
    "JournalCorruptError",
    "JournalError",
    "JournalNotFoundError",
    "JournalWriteError",
    "M5CError",
    "MissingParameterError",
    "NodeUnavailableError",
    "ProviderError",
    "ProviderRequestError",
    "PushFormatError",
    "QuarantineFullError",
    "RedisAuthError",
    "RedisUnavailableError",
    "ReplyFormatError",
    "ReplyTooLargeError",
    "SendInterruptedError",
    "SendRefusedError",
    "SettingsError",
    "SharedStoreError",
    "SourceError",
    "ThrottledError",
    "TransportError",
    "UnauthorizedIPError",
    "UnexpectedError",
    "UnknownProviderError",
    "UnrecognizedEncodingError",
    "Verdict",
]

#: How much of a malformed text an error keeps: enough to diagnose, never a whole body.
EXCERPT_CHARS = 200


class Verdict(StrEnum):
    """What sending the same request again would do: the one classification of failures."""

    SAFE = "safe"
    """The platform did not accept it: repeating (later, or on another node) cannot double it."""
    THROTTLED = "throttled"
    """Refused for speed, so not accepted: slow down, then send it again."""
    UNSAFE = "unsafe"
    """The platform may have accepted it: reconcile against its records before any resend."""
    POINTLESS = "pointless"
    """Repeating gives the same answer until the request (or something else) changes."""
    FATAL = "fatal"
    """Nothing will succeed on this account until a person acts: stop sending."""


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """Return at most ``limit`` characters of ``text``, marking a cut with an ellipsis."""
    return text if len(text) <= limit else text[:limit] + "…"


class M5CError(Exception):
    """Base of every error raised by m5c_async."""

    verdict: Verdict = Verdict.POINTLESS

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def retryable(self) -> bool:
        """True when the same request may be sent again (at once, or after slowing down)."""
        return self.verdict is Verdict.SAFE or self.verdict is Verdict.THROTTLED


# --- errors found before sending -------------------------------------------------------------


class InvalidRequestError(M5CError):
    """The request breaks a rule of the document; nothing was sent."""


class InvalidNumberError(InvalidRequestError):
    """A recipient is not a valid mobile number.

    Attributes:
        number: the number as given (numbers are not secrets).
        reason: a short machine-readable reason, see ``RejectReason``.
    """

    def __init__(self, message: str, *, number: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.number = number
        self.reason = reason


class ContentError(InvalidRequestError):
    """The message content is empty, too long or otherwise unsendable."""


class ContentEncodingError(ContentError):
    """The content holds a character the request's ``encode`` cannot carry.

    Attributes:
        char: the first offending character.
        position: its index in the content.
        encoding: the encoding that refused it.
    """

    def __init__(self, message: str, *, char: str, position: int, encoding: str) -> None:
        super().__init__(message)
        self.char = char
        self.position = position
        self.encoding = encoding


class InvalidTimeError(InvalidRequestError):
    """A time argument is naive, out of range or in the wrong order."""


class InvalidParameterError(InvalidRequestError, ValueError):
    """Another argument (username, ext, ip, encode, a setting...) is outside the rules.

    Also a ``ValueError``, so code written against the standard library's convention catches it.
    """


class SourceError(InvalidParameterError):
    """A campaign source cannot be read: a CSV without its columns, a file that is not UTF-8.

    Attributes:
        source: the file's name (or the kind of source).
        line: the line where reading failed, when there is one.
    """

    def __init__(self, message: str, *, source: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.source = source
        self.line = line


class SettingsError(InvalidParameterError):
    """An ``M5C_*`` environment variable holds a value outside its rule, or one is missing.

    Attributes:
        variable: the variable's name (empty when the fault is a combination of two).
    """

    def __init__(self, message: str, *, variable: str) -> None:
        super().__init__(message)
        self.variable = variable


class ControlCharacterError(InvalidParameterError):
    """A CR, LF or other control character in a base URL, request path or header (name or value).

    Refused before a byte is written, so it can never split one request into two (request
    smuggling, header injection). The message names where the character was, never the value.
    """


# --- errors the platform answered --------------------------------------------------------------


class ProviderError(M5CError):
    """The platform answered with an ``error:...`` reply.

    Attributes:
        reply: the reply text as received (it never contains credentials).
        node: the node that answered, when known.
        endpoint: the catalog name of the endpoint, when known.
    """

    def __init__(self, reply: str, *, node: str | None = None, endpoint: str | None = None) -> None:
        where = f" (node {node}, {endpoint})" if node and endpoint else ""
        super().__init__(f"{excerpt(reply)}{where}")
        self.reply = reply
        self.node = node
        self.endpoint = endpoint


class AccountError(ProviderError):
    """Fatal for the account: nothing will succeed until a person fixes it."""

    verdict = Verdict.FATAL


class AuthenticationError(AccountError):
    """Wrong apikey or password, or a password md5 that is not 32 characters."""


class AccountBlockedError(AccountError):
    """The account is disabled on the platform."""


class UnauthorizedIPError(AccountError):
    """The request came from an address outside the account's bound IP list."""


class InsufficientBalanceError(AccountError):
    """The account's balance cannot pay for the messages."""


class ProviderRequestError(ProviderError):
    """The platform judged the request incomplete or unreadable."""


class MissingParameterError(ProviderRequestError):
    """A required parameter was empty (username, password, apikey, recipient, content, from, to)."""


class UnrecognizedEncodingError(ProviderRequestError):
    """The ``encode`` parameter was neither GBK nor UTF-8."""


class ThrottledError(ProviderError):
    """``error:Throughput Rate Exceeded``: refused for speed, safe to send again later."""

    verdict = Verdict.THROTTLED


class SendRefusedError(ProviderError):
    """``error:<msgid>``: the platform refused the submission (the document gives no reason).

    Attributes:
        msgid: the msgid of the refused submission (the digits after ``error:``), when known.
    """

    def __init__(
        self,
        reply: str,
        *,
        msgid: str | None = None,
        node: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        super().__init__(reply, node=node, endpoint=endpoint)
        self.msgid = msgid


class BlacklistOperationError(ProviderError):
    """The number is not blacklisted, or its blacklisting cannot be removed (complaints)."""


class UnknownProviderError(ProviderError):
    """An ``error:`` reply the document does not list; the text is kept in ``reply``."""


# --- malformed text ------------------------------------------------------------------------------


class FormatError(M5CError):
    """A text is not in the documented shape.

    Attributes:
        text: a truncated copy of the offending text.
    """

    def __init__(self, message: str, *, text: str = "") -> None:
        self.text = excerpt(text)
        super().__init__(f"{message}: {self.text!r}" if text else message)


class ReplyFormatError(FormatError):
    """A reply of the platform is not in the documented shape."""


class PushFormatError(FormatError):
    """A pushed delivery report or reply is malformed or hostile."""


# --- the network ----------------------------------------------------------------------------------


class TransportError(M5CError):
    """The network failed between the client and a node.

    Attributes:
        node: the node's name or base URL.
        endpoint: the catalog name of the endpoint.
    """

    verdict = Verdict.UNSAFE

    def __init__(self, message: str, *, node: str = "", endpoint: str = "") -> None:
        super().__init__(message)
        self.node = node
        self.endpoint = endpoint


class NodeUnavailableError(TransportError):
    """The request never left (refused connection, DNS failure): safe on another node."""

    verdict = Verdict.SAFE


class AmbiguousOutcomeError(TransportError):
    """A send whose outcome is unknown: the platform may have accepted it.

    It carries what is needed to reconcile against ``action=record``; the client never resends it.

    Attributes:
        mobiles: the numbers of the submission.
        content: the message content.
        started_at: Unix time (float) when the request was sent.
        ended_at: Unix time (float) when the failure was seen.
        cause: a short description of the failure.
    """

    verdict = Verdict.UNSAFE

    def __init__(
        self,
        message: str,
        *,
        node: str = "",
        endpoint: str = "",
        mobiles: tuple[str, ...] = (),
        content: str = "",
        started_at: float = 0.0,
        ended_at: float = 0.0,
        cause: str = "",
    ) -> None:
        super().__init__(message, node=node, endpoint=endpoint)
        self.mobiles = mobiles
        self.content = content
        self.started_at = started_at
        self.ended_at = ended_at
        self.cause = cause

    def __repr__(self) -> str:
        return (
            f"AmbiguousOutcomeError(node={self.node!r}, endpoint={self.endpoint!r}, "
            f"numbers={len(self.mobiles)}, cause={self.cause!r})"
        )


class SendInterruptedError(TransportError):
    """The run was stopped (Ctrl-C, cancellation) while a request was in flight, and the
    request, or the lookups that would settle it, outlived the run's ``stop_grace``: the
    platform may have accepted it. The packet is ``AMBIGUOUS``, never resent blindly; a
    journal's resume reconciles it against the platform's records."""


class AllNodesFailedError(TransportError):
    """Every node failed; ``failures`` maps each node to its error."""

    def __init__(self, failures: dict[str, M5CError], *, endpoint: str = "") -> None:
        detail = "; ".join(f"{node}: {err.message}" for node, err in failures.items())
        super().__init__(f"all nodes failed for {endpoint}: {detail}", endpoint=endpoint)
        self.failures = failures
        self.verdict = (
            Verdict.SAFE
            if all(e.verdict is Verdict.SAFE for e in failures.values())
            else Verdict.POINTLESS
        )


class AllNodesRefusedError(AllNodesFailedError):
    """Every node answered the request with an HTTP 4xx (a WAF's 403, a wrong base URL's 404):
    each refused it before processing, so nothing was sent, and sending it again changes
    nothing until the setup (URL, proxy, allow-list) is fixed."""

    verdict = Verdict.POINTLESS


class HTTPStatusError(TransportError):
    """A node answered with an HTTP status the API does not use (anything but 2xx).

    The client's status table (``client/_status.py``) decides what it means: a 4xx (but 408)
    or a redirect is a refusal before processing (``pointless`` on that node, the next node is
    tried); a 5xx or 408 may have been processed (``unsafe``; after a send the client raises
    ``AmbiguousOutcomeError`` instead).

    Attributes:
        status: the HTTP status code.
        text: a short, credential-free excerpt of the reply body.
        refused: True when the node refused the request before processing it.
    """

    verdict = Verdict.UNSAFE

    def __init__(
        self,
        message: str,
        *,
        status: int,
        refused: bool,
        text: str = "",
        node: str = "",
        endpoint: str = "",
    ) -> None:
        super().__init__(message, node=node, endpoint=endpoint)
        self.status = status
        self.refused = refused
        self.text = excerpt(text)
        if refused:
            self.verdict = Verdict.POINTLESS


class ReplyTooLargeError(TransportError):
    """A reply body exceeded the client's size limit and was not read."""


class JournalError(M5CError):
    """A campaign journal cannot do what was asked."""


class CampaignNotFoundError(JournalError):
    """The journal holds no such campaign (or none at all).

    Attributes:
        campaign: the id asked for, or None for "the latest".
    """

    def __init__(self, message: str, *, campaign: int | None = None) -> None:
        super().__init__(message)
        self.campaign = campaign


class JournalNotFoundError(JournalError):
    """No journal file at the path given, where a reader needs one (it is never created).

    Attributes:
        path: the path asked for.
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class CampaignBusyError(JournalError):
    """Another process owns the campaign (its lease is fresh and its process alive).

    Fatal for a run: an owner that lost its lease sends nothing more.

    Attributes:
        campaign: the campaign's id.
        pid: the owner's process id.
        host: the owner's host name.
        started: Unix time it took the campaign.
        heartbeat: Unix time it was last seen alive.
    """

    verdict = Verdict.FATAL

    def __init__(
        self, message: str, *, campaign: int, pid: int, host: str, started: float, heartbeat: float
    ) -> None:
        super().__init__(message)
        self.campaign = campaign
        self.pid = pid
        self.host = host
        self.started = started
        self.heartbeat = heartbeat


class CampaignExistsError(JournalError):
    """The journal already holds a campaign of the same numbers source and content.

    Attributes:
        campaign: the existing campaign's id (resume it, or ask for a new one explicitly).
    """

    def __init__(self, message: str, *, campaign: int) -> None:
        super().__init__(message)
        self.campaign = campaign


class CampaignMismatchError(JournalError):
    """An option contradicts what the stored campaign was created with.

    Attributes:
        campaign: the campaign's id.
        option: the option's name (``content``, ``profile``, ``rate``...).
    """

    def __init__(self, message: str, *, campaign: int, option: str) -> None:
        super().__init__(message)
        self.campaign = campaign
        self.option = option


class JournalWriteError(JournalError):
    """The journal's file refused a write (disk full, read-only, I/O error, locked too long).

    Nothing more is sent until it is fixed; what was committed is intact, so ``resume``
    continues once writes succeed again.

    Attributes:
        cause: a short name of the cause (``disk full``, ``read-only``, ``I/O error``...).
    """

    verdict = Verdict.FATAL

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


class JournalCorruptError(JournalError):
    """The file is not a sound SQLite journal (``PRAGMA quick_check`` failed, or not SQLite)."""

    verdict = Verdict.FATAL


class QuarantineFullError(JournalError):
    """A push's unreadable part was not kept: the held quarantine would pass its limit.

    The push's readable records are stored; the receiver answers ``retry``, so the platform
    pushes again, and nothing is lost once the quarantine is re-parsed or cleared (``m5c
    quarantine``). Only pushes are refused: a pull's quarantine is always kept (it is gone from
    the platform once pulled).

    Attributes:
        held: bytes the quarantine costs the journal (held and resolved entries: raw text,
            reasons and their rows; ``Journal.quarantine_size``).
        limit: the journal's ``quarantine_limit``.
    """

    def __init__(self, message: str, *, held: int, limit: int) -> None:
        super().__init__(message)
        self.held = held
        self.limit = limit


def _mask(number: str) -> str:
    return f"{number[:3]}****{number[-4:]}" if len(number) >= 8 else "*" * len(number)


class FrequencyLimitError(M5CError):
    """The per-number frequency guard refused a send.

    Attributes:
        number: the number refused.
        retry_after: seconds until the guard would allow it.
        limit: the (count, seconds) limit that refused it.
    """

    def __init__(self, number: str, retry_after: float, limit: tuple[int, float]) -> None:
        count, seconds = limit
        super().__init__(
            f"{_mask(number)} already had {count} message(s) in {seconds:g} s; "
            f"retry after {retry_after:.0f} s"
        )
        self.number = number
        self.retry_after = retry_after
        self.limit = limit


class SharedStoreError(M5CError):
    """The Redis that a shared pacer or frequency guard keeps its state in failed.

    Attributes:
        server: ``host:port/db`` of the Redis (never its password or user name).
    """

    def __init__(self, message: str, *, server: str = "") -> None:
        super().__init__(message)
        self.server = server


class RedisAuthError(SharedStoreError):
    """Redis refused the credentials (``WRONGPASS``, ``NOAUTH``) or the user's permissions
    (``NOPERM``): nothing will work until a person fixes the configuration, so it is raised at
    once and never retried."""

    verdict = Verdict.FATAL


class RedisUnavailableError(SharedStoreError):
    """Redis did not answer for longer than the pacer's ``outage_timeout`` (or the guard's): no
    reservation, so nothing was sent. Sending again once Redis answers is safe."""

    verdict = Verdict.SAFE


class GuardFullError(M5CError):
    """The local frequency guard holds ``max_numbers`` numbers whose windows are all open: a new
    number is refused rather than another's count forgotten.

    Attributes:
        max_numbers: the table's size.
        retry_after: seconds until the oldest window closes and makes room.
    """

    def __init__(self, max_numbers: int, retry_after: float) -> None:
        super().__init__(
            f"the frequency guard holds {max_numbers} numbers with open windows; "
            f"retry after {retry_after:.0f} s (or use a RedisGuard, or raise max_numbers)"
        )
        self.max_numbers = max_numbers
        self.retry_after = retry_after


class EngineStoppedError(M5CError):
    """The engine stopped before this message was sent; ``cause`` says why (or None)."""

    verdict = Verdict.SAFE

    def __init__(self, cause: M5CError | None = None) -> None:
        reason = cause.message if cause is not None else "the engine was stopped"
        super().__init__(f"not sent: {reason}")
        self.cause = cause


class UnexpectedError(M5CError):
    """Any exception that is not an ``M5CError``, met while sending one packet, wrapped.

    The original is chained as ``__cause__``; its text is not copied into the message (it may
    come from any library and could quote a URL). ``verdict`` is ``UNSAFE`` when the request may
    have left, ``POINTLESS`` when it surely did not.

    Attributes:
        kind: the original exception's class name.
    """

    def __init__(self, kind: str, *, may_have_left: bool) -> None:
        where = "while sending" if may_have_left else "before sending"
        super().__init__(f"unexpected {kind} {where}")
        self.kind = kind
        self.verdict = Verdict.UNSAFE if may_have_left else Verdict.POINTLESS

    @classmethod
    def wrap(cls, exc: BaseException, *, may_have_left: bool) -> UnexpectedError:
        """Wrap ``exc``, chained as the cause."""
        error = cls(type(exc).__name__, may_have_left=may_have_left)
        error.__cause__ = exc
        return error
