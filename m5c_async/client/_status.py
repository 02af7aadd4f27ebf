"""What an HTTP status means to the client: the one status table.

The API answers every request with ``200`` and a text body (``success:...``, ``error:...``, the
queried data). Any other status comes from something in front of the platform or from a node in
trouble (a WAF's 403, a wrong base URL's 404, a gateway's 502), and what matters is whether the
platform may have acted on the request:

==============================  ==========  =======================================================
status                          meaning     send / query
==============================  ==========  =======================================================
1xx                             (never)     interim replies are skipped by the wire
2xx                             ``REPLY``   the body is the platform's answer: parse it
301, 302, 307, 308              ``REFUSED`` a redirect not followed: nothing processed, next node
4xx except 408                  ``REFUSED`` refused before processing: next node; every node
                                            refusing is ``AllNodesRefusedError``
408, 5xx, 303, any other        ``UNKNOWN`` may have been processed: a send is ambiguous
                                            (reconciled, never resent blindly); a read-only query
                                            tries the next node; a pull or a change raises
                                            ``HTTPStatusError``
==============================  ==========  =======================================================

A ``303 See Other`` is what a server answers *after* processing a POST, hence ``UNKNOWN``; the
other redirects say the resource is elsewhere. ``408`` says the server gave up waiting for the
request, but a proxy in between may have forwarded what it had: ``UNKNOWN`` too.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

__all__ = ["Meaning", "meaning"]


class Meaning(Enum):
    """What one HTTP status says about the request."""

    REPLY = "reply"
    """The body is the platform's answer."""
    REFUSED = "refused"
    """Refused before processing: the request had no effect on this node."""
    UNKNOWN = "unknown"
    """The node may have processed the request."""


_REDIRECTS_UNPROCESSED: Final = frozenset({301, 302, 307, 308})


def meaning(status: int) -> Meaning:
    """Classify an HTTP status (see the module's table).

    Example:
        >>> [meaning(s).value for s in (200, 403, 408, 502)]
        ['reply', 'refused', 'unknown', 'unknown']
    """
    if 200 <= status < 300:
        return Meaning.REPLY
    if (400 <= status < 500 and status != 408) or status in _REDIRECTS_UNPROCESSED:
        return Meaning.REFUSED
    return Meaning.UNKNOWN
