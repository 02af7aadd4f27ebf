"""The one reconciliation rule (window + match), tested once, with tables.

The engine (after an ambiguous send) and the journal (on resume) both call this rule; their own
tests check they call it, not the rule again.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from m5c_async import InvalidParameterError
from m5c_async.protocol import (
    CLOCK_SKEW,
    RECORDED_LATE,
    RecordWindow,
    SendRecord,
    match_records,
    merge_windows,
    parse_records,
    record_window,
)

A, B, C = "13800000001", "13800000002", "13800000003"
SENT = 1_700_000_000.4  # host wall time the request was written
ANSWERED = SENT + 10.2  # host wall time the failure was seen (a read timeout)


def rec(msgid: str, mobiles: tuple[str, ...], content: str, at: float) -> SendRecord:
    return SendRecord(
        username="mlrt",
        msgid=msgid,
        mobiles=mobiles,
        content=content,
        sent_at=datetime.fromtimestamp(int(at), tz=UTC),
    )


# --- the window ------------------------------------------------------------------------------

# (sent_from, sent_until, skew, late, first, last)
WINDOWS = [
    pytest.param(1000.0, 1000.0, 0, 0, 1000, 1000, id="exact-second-no-margins"),
    pytest.param(1000.999, 1000.999, 0, 0, 1000, 1001, id="fraction-floors-and-ceils"),
    pytest.param(1000.7, 1003.2, 2, 5, 998, 1011, id="both-margins"),
    pytest.param(1000.0, 990.0, 1, 1, 999, 1002, id="until-before-from-is-from"),
    pytest.param(
        SENT,
        ANSWERED,
        CLOCK_SKEW,
        RECORDED_LATE,
        int(SENT - CLOCK_SKEW),
        int(ANSWERED + CLOCK_SKEW + RECORDED_LATE) + 1,
        id="defaults",
    ),
]


@pytest.mark.parametrize(("sent", "until", "skew", "late", "first", "last"), WINDOWS)
def test_window(sent: float, until: float, skew: float, late: float, first: int, last: int) -> None:
    """Whole platform seconds: floor of the earliest, ceil of the latest possible stamp."""
    window = record_window(sent, until, skew=skew, late=late)
    assert (window.first, window.last) == (first, last)
    assert window.start == datetime.fromtimestamp(first, tz=UTC)
    assert window.end == datetime.fromtimestamp(last, tz=UTC)


def test_window_refuses_negative_margins() -> None:
    """A negative skew or lateness is a named error."""
    with pytest.raises(InvalidParameterError):
        record_window(1000, 1001, skew=-1)


# (platform clock minus host clock, seconds after the request left that it was stamped, found)
SKEWS = [
    pytest.param(0.0, 0.0, True, id="same-clock"),
    pytest.param(+9.0, 0.0, True, id="platform-ahead-9s"),
    pytest.param(-9.0, 0.0, True, id="platform-behind-9s"),
    pytest.param(-CLOCK_SKEW, 0.0, True, id="platform-behind-by-the-skew"),
    pytest.param(+CLOCK_SKEW, 10.2, True, id="ahead-by-the-skew-stamped-at-the-timeout"),
    pytest.param(+5.0, 10.2 + RECORDED_LATE, True, id="recorded-late"),
    pytest.param(-CLOCK_SKEW - 1.0, 0.0, False, id="platform-behind-beyond-the-skew"),
    pytest.param(+CLOCK_SKEW, 10.2 + RECORDED_LATE + 2.0, False, id="later-than-late"),
]


@pytest.mark.parametrize(("offset", "after", "found"), SKEWS)
def test_clock_skew_between_host_and_platform(offset: float, after: float, found: bool) -> None:
    """The platform stamps records on its own clock, whole seconds; within the skew either way
    (and the lateness after the failure) the record is found, beyond it not."""
    window = record_window(SENT, ANSWERED)
    record = rec("7", (A,), "hi", SENT + offset + after)
    assert bool(match_records([(A, "hi")], [record], window).found) is found


# --- whole-second boundaries ---------------------------------------------------------------------

# (record stamped at, in the window [1000, 1012])
BOUNDARIES = [
    pytest.param(999, False, id="one-second-before"),
    pytest.param(1000, True, id="first-second"),
    pytest.param(1012, True, id="last-second"),
    pytest.param(1013, False, id="one-second-after"),
]


@pytest.mark.parametrize(("stamp", "inside"), BOUNDARIES)
def test_whole_second_boundaries(stamp: int, inside: bool) -> None:
    """Both ends are inclusive whole seconds; the platform's truncation is covered by the floor."""
    window = record_window(1000.999, 1011.001, skew=0, late=0)
    assert (window.first, window.last) == (1000, 1012)
    record = rec("7", (A,), "hi", stamp)
    assert bool(match_records([(A, "hi")], [record], window).found) is inside


def test_a_record_at_a_fraction_of_the_first_second() -> None:
    """Sent at 1000.7 on a clock equal to the platform's: the platform writes 1000, found."""
    window = record_window(1000.7, 1000.9, skew=0, late=0)
    assert match_records([(A, "x")], [rec("1", (A,), "x", 1000.7)], window).found


# --- the match -----------------------------------------------------------------------------------

W = record_window(SENT, ANSWERED)
AT = SENT + 1

# (records, wanted, expected found, expected repeated)
MATCHES = [
    pytest.param([], [(A, "hi")], {}, 0, id="empty-records"),
    pytest.param(
        [rec("7", (A, B), "hi", AT)],
        [(A, "hi"), (B, "hi"), (C, "hi")],
        {(A, "hi"): "7", (B, "hi"): "7"},
        0,
        id="part-of-the-packet",
    ),
    pytest.param(
        [rec("5", (A,), "other campaign", AT), rec("7", (A,), "hi", AT)],
        [(A, "hi")],
        {(A, "hi"): "7"},
        0,
        id="same-number-two-campaigns-different-content",
    ),
    pytest.param(
        [rec("5", (A,), "other campaign", AT)],
        [(A, "hi")],
        {},
        0,
        id="same-number-other-content-only",
    ),
    pytest.param(
        [rec("5", (A,), "hi", SENT - 8), rec("7", (A,), "hi", AT)],
        [(A, "hi")],
        {(A, "hi"): "7"},
        1,
        id="same-content-twice-nearest-to-the-send",
    ),
    pytest.param(
        [rec("9", (A,), "hi", AT), rec("7", (A, B), "hi", AT)],
        [(A, "hi"), (B, "hi")],
        {(A, "hi"): "7", (B, "hi"): "7"},
        1,
        id="same-content-twice-same-second-the-one-holding-more",
    ),
    pytest.param(
        [rec("9", (A,), "hi", AT), rec("8", (A,), "hi", AT)],
        [(A, "hi")],
        {(A, "hi"): "8"},
        1,
        id="full-tie-smallest-msgid-whatever-the-order",
    ),
    pytest.param(
        [rec("7", (A,), "您好1", AT), rec("7", (A,), "您好2", AT)],
        [(A, "您好1"), (A, "您好2"), (B, "您好3")],
        {(A, "您好1"): "7", (A, "您好2"): "7"},
        0,
        id="personalized-batch-same-number-two-contents",
    ),
    pytest.param(
        [rec("7", (A,), "hi", SENT - 60)],
        [(A, "hi")],
        {},
        0,
        id="identical-send-outside-the-window",
    ),
]


@pytest.mark.parametrize(("records", "wanted", "found", "repeated"), MATCHES)
def test_match(
    records: list[SendRecord],
    wanted: list[tuple[str, str]],
    found: dict[tuple[str, str], str],
    repeated: int,
) -> None:
    """Number and content both match, inside the window; ties are decided by the rule only."""
    result = match_records(wanted, records, W)
    assert result.found == found
    assert result.repeated == repeated
    assert match_records(wanted, list(reversed(records)), W).found == found


def test_the_documents_record_example_matches() -> None:
    """§5.1.2's own reply (verbatim) matches its two numbers with the decoded content."""
    text = (
        "mlrt,13958008415478,13940728107|13811299933,"
        "%e6%82%a8%e7%9a%84%e9%aa%8c%e8%af%81%e7%a0%81%e6%98%af%ef%bc%9a123456"
        "%e3%80%90%e7%be%8e%e9%80%9a%e3%80%91,1395800841;"
    )
    records = parse_records(text)
    window = record_window(1395800840.5, 1395800841.5, skew=0, late=0)
    content = "您的验证码是：123456【美通】"
    result = match_records([("13940728107", content), ("13811299933", content)], records, window)
    assert set(result.found.values()) == {"13958008415478"}
    assert len(result.found) == 2


# --- several packets (the journal's resume) ------------------------------------------------------


def test_merged_windows_query_once_but_each_packet_matches_in_its_own_window() -> None:
    """Overlapping windows share a query; a record inside the merged range but outside a
    packet's own window is not that packet's."""
    early = record_window(1000, 1001, skew=1, late=2)  # [999, 1004]
    late = record_window(1003, 1004, skew=1, late=2)  # [1002, 1007]
    far = record_window(2000, 2001, skew=1, late=2)  # [1999, 2004]
    merged = merge_windows([far, late, early])
    assert [(w.first, w.last) for w in merged] == [(999, 1007), (1999, 2004)]
    record = rec("7", (A,), "hi", 1006)
    assert not match_records([(A, "hi")], [record], early).found
    assert match_records([(A, "hi")], [record], late).found == {(A, "hi"): "7"}


def test_touching_windows_merge() -> None:
    """[1, 5] and [6, 9] leave no second between them: one query."""
    windows = [RecordWindow(1, 5, 1.0), RecordWindow(6, 9, 6.0), RecordWindow(11, 12, 11.0)]
    assert [(w.first, w.last) for w in merge_windows(windows)] == [(1, 9), (11, 12)]
