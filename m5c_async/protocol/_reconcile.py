"""The duplicate-safety rule: was an ambiguous send accepted? Decided from ``action=record``.

A send whose answer was lost (a read timeout, a dropped connection, a 5xx) may or may not have
been accepted. Resending blindly could deliver it twice, so the platform's send records
(§5.1.2: ``username,msgid,mobiles,content,time;``) are read first. This module is the rule, pure;
the engine (``engine/_reconcile.py``) and the journal's resume both use it. docs/reliability.md,
"Reconciliation", states it for users.

**The window.** The host knows, on its own wall clock, the interval in which the request existed:
from just before it was written (``sent_from``) to the moment the failure was seen or the process
died (``sent_until``). The platform stamps each record with its own clock, in whole seconds. So a
record of that request carries a time in::

    [floor(sent_from - skew), ceil(sent_until + skew + late)]

``skew`` (``CLOCK_SKEW``, 10 s) is how far the host's and the platform's clocks may disagree, in
either direction; ``late`` (``RECORDED_LATE``, 30 s) is how long after ``sent_until`` a request
still in some queue may be recorded. Both are arguments, so a host with a worse clock can widen
them. A record outside the window is not this request.

**The match.** A message (number, content) was accepted when some record inside its window lists
the number *and* carries exactly that content. A record listing the number with another content is
another message (another campaign). When two records in the window match (the same content sent
twice, under two msgids), the message was accepted at least once either way, so it is found; its
msgid is the one recorded nearest to ``sent_from``, then the one holding more of the request's
messages, then the smallest, so the choice never depends on the records' order. Such a message is
also counted in ``Matches.repeated`` for the caller to log.

A false match (an earlier identical message inside the window) leaves a message unsent; it never
sends one twice. That is the direction this rule errs in, on purpose.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .._exceptions import InvalidParameterError
from ._models import SendRecord

__all__ = [
    "CLOCK_SKEW",
    "RECORDED_LATE",
    "Matches",
    "RecordWindow",
    "match_records",
    "merge_windows",
    "record_window",
]

#: Seconds the host's and the platform's clocks may disagree, either way.
CLOCK_SKEW = 10.0
#: Seconds after the host last knew of a request that the platform may still record it.
RECORDED_LATE = 30.0


@dataclass(frozen=True, slots=True)
class RecordWindow:
    """Whole platform seconds, both ends inclusive, in which a request's record may fall.

    ``sent_from`` is the host's own time for the request (for choosing between two matches).
    """

    first: int
    last: int
    sent_from: float

    def contains(self, when: datetime) -> bool:
        """True when a record stamped ``when`` falls in the window."""
        return self.first <= when.timestamp() <= self.last

    @property
    def start(self) -> datetime:
        """The window's first second, for ``records(start, end)``."""
        return datetime.fromtimestamp(self.first, tz=UTC)

    @property
    def end(self) -> datetime:
        """The window's last second, for ``records(start, end)``."""
        return datetime.fromtimestamp(self.last, tz=UTC)

    @staticmethod
    def at(second: int) -> datetime:
        """A whole second as an aware datetime (for a query ending before ``last``)."""
        return datetime.fromtimestamp(second, tz=UTC)


def record_window(
    sent_from: float,
    sent_until: float,
    *,
    skew: float = CLOCK_SKEW,
    late: float = RECORDED_LATE,
) -> RecordWindow:
    """The window of a request that existed from ``sent_from`` to ``sent_until`` (host Unix time).

    Example:
        >>> w = record_window(1000.7, 1003.2, skew=2, late=5)
        >>> (w.first, w.last)
        (998, 1011)
    """
    if skew < 0 or late < 0:
        raise InvalidParameterError("skew and late must not be negative")
    until = max(sent_until, sent_from)
    return RecordWindow(
        first=math.floor(sent_from - skew),
        last=math.ceil(until + skew + late),
        sent_from=sent_from,
    )


def merge_windows(windows: Iterable[RecordWindow]) -> list[RecordWindow]:
    """Overlapping or touching windows merged, in order: one records query each."""
    merged: list[RecordWindow] = []
    for window in sorted(windows, key=lambda w: w.first):
        if merged and window.first <= merged[-1].last + 1:
            last = merged[-1]
            merged[-1] = RecordWindow(last.first, max(last.last, window.last), last.sent_from)
        else:
            merged.append(window)
    return merged


@dataclass(frozen=True, slots=True)
class Matches:
    """What the records say about one request's messages.

    Attributes:
        found: (number, content) -> msgid, for every message the records show accepted.
        repeated: messages matched by more than one msgid in the window.
    """

    found: dict[tuple[str, str], str]
    repeated: int = 0


def match_records(
    wanted: Sequence[tuple[str, str]],
    records: Iterable[SendRecord],
    window: RecordWindow,
) -> Matches:
    """Find the request's (number, content) messages among ``records``, by the rule above.

    Example:
        >>> from datetime import UTC, datetime
        >>> rec = SendRecord(username="u", msgid="7", mobiles=("13800138000",), content="hi",
        ...                  sent_at=datetime.fromtimestamp(1001, tz=UTC))
        >>> match_records([("13800138000", "hi")], [rec], record_window(1000, 1001)).found
        {('13800138000', 'hi'): '7'}
    """
    want = set(wanted)
    # (number, content) -> {msgid: recorded time}
    seen: dict[tuple[str, str], dict[str, float]] = {}
    held: dict[str, int] = {}  # msgid -> messages of this request it holds
    for record in records:
        if not window.contains(record.sent_at):
            continue
        when = record.sent_at.timestamp()
        for number in record.mobiles:
            key = (number, record.content)
            if key not in want:
                continue
            by_msgid = seen.setdefault(key, {})
            if record.msgid not in by_msgid:
                held[record.msgid] = held.get(record.msgid, 0) + 1
                by_msgid[record.msgid] = when
            else:
                by_msgid[record.msgid] = min(by_msgid[record.msgid], when)
    found: dict[tuple[str, str], str] = {}
    repeated = 0
    for key, by_msgid in seen.items():
        if len(by_msgid) > 1:
            repeated += 1
        found[key] = min(
            by_msgid,
            key=lambda m: (abs(by_msgid[m] - window.sent_from), -held[m], m),
        )
    return Matches(found=found, repeated=repeated)
