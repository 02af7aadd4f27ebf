"""What the simulator pushes is byte for byte what the document shows (typos aside)."""

from __future__ import annotations

from typing import Any

import pytest

from m5c_async.protocol import PushFormat, encode_push_data, format_reply_push, format_report_push
from tests import doc_pushes as doc


def data_of(url: str) -> str:
    """The still-encoded ``data`` of a document URL, the page's line breaks removed."""
    return url.split("data=", 1)[1].replace("\n", "")


# (the document URL, its typos repaired, the records, report or reply, format)
CASES: list[tuple[str, str, list[Any], bool, PushFormat]] = [
    (
        data_of(doc.REPORT_STRING_URL),
        data_of(doc.REPORT_STRING_URL),
        [
            ("309111755558600", "13811299999", "DELIVRD", 1456853866),
            ("309111755559999", "13811299988", "DELIVRD", 456853877),
        ],
        True,
        PushFormat.STRING,
    ),
    (
        data_of(doc.REPORT_JSON_URL),
        data_of(doc.REPORT_JSON_URL),
        [
            ("12122663121210", "13811299999", "UNDELIV", 1462879547),
            ("2322613121411", "18610310000", "DELIVRD", 1462879547),
        ],
        True,
        PushFormat.JSON,
    ),
    (
        data_of(doc.REPORT_XML_URL),
        data_of(doc.REPORT_XML_URL).replace("%3Cit%3E", "%3Citem%3E").replace("%3E%3ENO", "%3ENO"),
        [("1412544124087", "13811299999", "NOSEND", 1462880473)],
        True,
        PushFormat.XML,
    ),
    (
        data_of(doc.REPLY_STRING_URL_AS_PRINTED),
        data_of(doc.REPLY_STRING_URL_AS_PRINTED),
        [
            ("2554", "1445347", "13811299999", "好", 1462913482),
            ("2554", "1445347", "13811299988", "嗯", 1462913643),
        ],
        False,
        PushFormat.STRING,
    ),
    (
        data_of(doc.REPLY_JSON_URL),
        data_of(doc.REPLY_JSON_URL)
        .replace("%22E5%91", "%22%E5%91")
        .replace("%22E4%B9", "%22%E4%B9"),
        [
            ("12024997664", "1443692", "447874321404", "H", 1462832627),
            ("0", "1445336", "13811299999", "呵呵呵呵呵，345", 1462909232),
            ("0", "1445337", "13811299999", "么么哒189志伟", 1462909307),
        ],
        False,
        PushFormat.JSON,
    ),
    (
        data_of(doc.REPLY_XML_URL),
        data_of(doc.REPLY_XML_URL)
        .replace("%3D221.0", "%3D%221.0")
        .replace("%3D22utf", "%3D%22utf"),
        [
            ("2554", "", "18610310000", "呵呵哈哈", None),
            ("2554", "", "13811299999", "任性吧", None),
        ],
        False,
        PushFormat.XML,
    ),
]


@pytest.mark.parametrize(
    ("printed", "repaired", "records", "report", "fmt"),
    CASES,
    ids=[f"{'report' if c[3] else 'reply'}-{c[4].value}" for c in CASES],
)
def test_pushes_are_written_as_the_document_shows(
    printed: str, repaired: str, records: list[Any], report: bool, fmt: PushFormat
) -> None:
    """Layout, escapes and their case match the example; only the example's typos differ."""
    data = format_report_push(records, fmt) if report else format_reply_push(records, fmt)
    assert encode_push_data(data, fmt) == repaired
    assert (printed == repaired) is (
        fmt is PushFormat.STRING or (report and fmt is PushFormat.JSON)
    )
