"""Push parsers against every push example of §7 and §9, with the decisions on their typos."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

import pytest

from m5c_async import PushFormatError
from m5c_async.protocol import (
    SHANGHAI,
    PushFormat,
    detect_push_format,
    format_reply_push,
    format_report_push,
    parse_reply_push,
    parse_report_push,
)


def data_of(url: str) -> str:
    """What a receiver reads from ``data`` after the HTTP layer decodes the field."""
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))["data"]


# §7.1.1 string, encoded and decoded.
REPORT_STRING_URL = (
    "http://www.baidu.com/dir/report.php?data=309111755558600%2c13811299999%2cDELIVRD%2c"
    "1456853866%3b309111755559999%2c13811299988%2cDELIVRD%2c456853877"
)
REPORT_STRING = (
    "309111755558600,13811299999,DELIVRD,1456853866;309111755559999,13811299988,DELIVRD,456853877"
)
# §7.1.1 JSON, encoded and decoded.
REPORT_JSON_URL = (
    "http://www.baidu.com/dir/report.php?data=%7B%09%22results%22%3A%5B%7B%22msgid%22%3A%22"
    "12122663121210%22%2C%22mobile%22%3A%2213811299999%22%2C%22status%22%3A%22UNDELIV%22%2C%22"
    "receivetime%22%3A%221462879547%22%7D%2C%7B%22msgid%22%3A%222322613121411%22%2C%22mobile%22"
    "%3A%2218610310000%22%2C%22status%22%3A%22DELIVRD%22%2C%22receivetime%22%3A%221462879547%22"
    "%7D%5D%09%7D"
)
REPORT_JSON = (
    '{  "results":\n[{"msgid":"12122663121210","mobile":"13811299999","status":"UNDELIV",'
    '"receivetime":"1462879547"},{"msgid":"22322613121411","mobile":"18610310000",'
    '"status":"DELIVRD","receivetime":"1462879547"}] }'
)
# §7.1.1 XML: the encoded form has <it>...</item> and a stray '>' before the status.
REPORT_XML_URL = (
    "http://www.baidu.com/dir/report.php?data=%3C%3Fxml+version%3D%221.0%22+encoding%3D%22utf-8"
    "%22%3F%3E%3Cresults%3E%3Cit%3E%09%3Cmsgid%3E1412544124087%3C%2Fmsgid%3E%09%3Cmobile%3E"
    "13811299999%3C%2Fmobile%3E%09%3Cstatus%3E%3ENOSEND%3C%2Fstatus%3E%09%3Creceivetime%3E"
    "1462880473%3C%2Freceivetime%3E%3C%2Fitem%3E%3C%2Fresults%3E"
)
REPORT_XML = (
    '<?xml version="1.0" encoding="utf-8"?><results><item>  <msgid>1412544124087</msgid>\n'
    "    <mobile>13811299999</mobile>    <status>NOSEND</status>\n"
    "    <receivetime>1462880473</receivetime></item></results>"
)
# §9.1 string, encoded; the decoded example glues a report onto the second reply.
REPLY_STRING_URL = (
    "http://www.baidu.com/dir/report.php?data=2554%2c1445347%2c13811299999%2c%e5%a5%bd%2c"
    "1462913482%3b2554%2c1445347%2c13811299988%2c%e5%97%af%2c1462913643"
)
REPLY_STRING_GARBLED = (
    "2554,1445347,13811299999, 好 ,1462913482;2554,1445347,13811299988,  喂,"
    "14629136432999988,DELIVRD,456853877"
)
# §9.1 JSON, encoded (valid JSON; contents lost their leading '%'); decoded (broken quoting).
REPLY_JSON_URL = (
    "http://www.baidu.com/dir/report.php?data=%7B%09%22results%22%3A+%5B%7B%22ext%22%3A%22"
    "12024997664%22%2C%22replyid%22%3A%221443692%22%2C%22mobile%22%3A%22447874321404%22%2C%22"
    "content%22%3A%22H%22%2C%22receivetime%22%3A%221462832627%22%7D%2C%7B%22ext%22%3A%220%22"
    "%2C%22replyid%22%3A%221445336%22%2C%22mobile%22%3A%2213811299999%22%2C%22content%22%3A%22"
    "E5%91%B5%E5%91%B5%E5%91%B5%E5%91%B5%E5%91%B5%EF%BC%8C345%22%2C%22receivetime%22%3A%22"
    "1462909232%22%7D%2C%7B%22ext%22%3A%220%22%2C%22replyid%22%3A%221445337%22%2C%22mobile%22"
    "%3A%2213811299999%22%2C%22content%22%3A%22E4%B9%88%E4%B9%88%E5%93%92189%E5%BF%97%E4%BC%9F"
    "%22%2C%22receivetime%22%3A%221462909307%22%7D%5D%09%7D"
)
REPLY_JSON_BROKEN = (
    '{\n  "results":\n  [{"ext":"12024997664","replyid":"1443692","mobile":"447874321404",'
    '"content":"H","receivetime":"1462832627"},{"ext":"0","replyid":"1445336","mobile":'
    '"13811299999","content":"呵呵呵呵",\n  "345","receivetime":"1462909232"},{"ext":"0",'
    '"replyid":"1445337","mobile":"13811299999","content":"么么哒 189 志伟",\n'
    '  "receivetime":"1462909307"}]}'
)
# §9.1 XML: encoded declaration is broken (version=221.0"); decoded form is well-formed.
REPLY_XML_URL = (
    "http://www.baidu.com/dir/report.php?data=%3C%3Fxml+version%3D221.0%22+encoding%3D22utf-8"
    "%22%3F%3E%3Cresults%3E%3Citem%3E%09%3Cext%3E2554%3C%2Fext%3E%09%3Creplyid%3E%3C%2Freplyid"
    "%3E%09%3Cmobile%3E18610310000%3C%2Fmobile%3E%09%3Ccontent%3E%E5%91%B5%E5%91%B5%E5%93%88"
    "%E5%93%88%3C%2Fcontent%3E%09%3Creceivetime%3E%3C%2Freceivetime%3E%3C%2Fitem%3E%3C%2F"
    "results%3E"
)
REPLY_XML = (
    '<?xml version="1.0" encoding="utf-8"?><results><item>  <ext>2554</ext>  <replyid></replyid>\n'
    "<mobile>18610310000</mobile>    <content>呵呵哈哈</content> <receivetime></receivetime>"
    "</item><item>\n<ext>2554</ext>  <replyid></replyid>    <mobile>13811299999</mobile>"
    "    <content>  任    性    吧    </content>\n<receivetime></receivetime></item></results>"
)


def test_report_string_examples() -> None:
    """Both renderings of the §7 string push parse the same; odd msgid/time lengths kept."""
    reports = parse_report_push(data_of(REPORT_STRING_URL))
    assert reports == parse_report_push(REPORT_STRING, "string")
    assert [(r.msgid, r.mobile, r.status) for r in reports] == [
        ("309111755558600", "13811299999", "DELIVRD"),
        ("309111755559999", "13811299988", "DELIVRD"),
    ]
    assert reports[0].at == datetime.fromtimestamp(1456853866, tz=SHANGHAI)


def test_report_json_examples() -> None:
    """The encoded and decoded §7 JSON examples give the same reports."""
    encoded = parse_report_push(data_of(REPORT_JSON_URL))
    decoded = parse_report_push(REPORT_JSON)
    assert [(r.msgid, r.status) for r in decoded] == [
        ("12122663121210", "UNDELIV"),
        ("22322613121411", "DELIVRD"),
    ]
    # The encoded copy dropped one digit of the second msgid; otherwise identical.
    assert encoded[0] == decoded[0]
    assert encoded[1].msgid == "2322613121411"


def test_report_xml_decoded_example() -> None:
    """The decoded §7 XML example parses."""
    [report] = parse_report_push(REPORT_XML)
    assert (report.msgid, report.status) == ("1412544124087", "NOSEND")


def test_report_xml_encoded_example_is_refused_for_its_mismatched_tag() -> None:
    """<it>...</item> is not XML: refused, not repaired."""
    with pytest.raises(PushFormatError, match="malformed XML"):
        parse_report_push(data_of(REPORT_XML_URL))


def test_stray_angle_bracket_before_status_is_dropped() -> None:
    """With the tag fixed, the encoded example's '>NOSEND' reads as NOSEND."""
    fixed = data_of(REPORT_XML_URL).replace("<it>", "<item>")
    [report] = parse_report_push(fixed)
    assert report.status == "NOSEND"


def test_reply_string_example() -> None:
    """The encoded §9 string push; content is decoded (it needed no escapes here)."""
    replies = parse_reply_push(data_of(REPLY_STRING_URL))
    assert [(r.ext, r.reply_id, r.mobile, r.content) for r in replies] == [
        ("2554", "1445347", "13811299999", "好"),
        ("2554", "1445347", "13811299988", "嗯"),
    ]


def test_reply_string_garbled_example_is_refused() -> None:
    """The decoded §9 string example has a report glued on: refused whole."""
    with pytest.raises(PushFormatError, match="5 fields"):
        parse_reply_push(REPLY_STRING_GARBLED)


def test_reply_json_encoded_example() -> None:
    """Valid JSON: kept. Its contents lost their first '%', so the HTTP layer already decoded
    the rest into invalid bytes, which arrive replaced; the text around them survives."""
    first, second, third = parse_reply_push(data_of(REPLY_JSON_URL))
    assert (first.ext, first.mobile, first.content) == ("12024997664", "447874321404", "H")
    assert second.content.startswith("E5\ufffd")
    assert second.content.endswith("呵呵呵呵，345")
    assert second.raw_content == second.content
    assert third.at == datetime.fromtimestamp(1462909307, tz=SHANGHAI)


def test_reply_json_decoded_example_is_refused() -> None:
    """The decoded §9 JSON example is not JSON."""
    with pytest.raises(PushFormatError, match="malformed JSON"):
        parse_reply_push(REPLY_JSON_BROKEN)


def test_reply_xml_examples() -> None:
    """Decoded §9 XML parses with unknown ids and times; the encoded one's declaration is broken."""
    first, second = parse_reply_push(REPLY_XML)
    assert (first.ext, first.reply_id, first.at, first.content) == ("2554", None, None, "呵呵哈哈")
    assert second.content == "任    性    吧"
    with pytest.raises(PushFormatError):
        parse_reply_push(data_of(REPLY_XML_URL))


XXE = (
    '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<results><item><msgid>1</msgid><mobile>1</mobile><status>&x;</status>"
    "<receivetime>1</receivetime></item></results>"
)
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    "<results><item><status>&lol2;</status></item></results>"
)


@pytest.mark.parametrize("hostile", [XXE, LAUGHS])
def test_hostile_xml_is_refused(hostile: str) -> None:
    """External entities and entity expansion never run."""
    with pytest.raises(PushFormatError, match="hostile"):
        parse_report_push(hostile)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "   ",
        "1,2,3",
        "a,13800000000,DELIVRD,1462880473",
        "1,13800000000,,1462880473",
        "1,13800000000,DELIVRD,yesterday",
        '{"results": {}}',
        '{"results": [1]}',
        '{"results": [{"msgid": [1]}]}',
        '{"results": [{"msgid": true}]}',
        '{"results": []}',
        "[1]",
        "{not json",
        "<other/>",
        "<results><x/></results>",
        "<results><item><msgid>1",
    ],
)
def test_malformed_report_pushes(data: str) -> None:
    """Each malformed push raises PushFormatError."""
    with pytest.raises(PushFormatError):
        parse_report_push(data)


def test_integer_json_values_are_accepted() -> None:
    """JSON numbers are read as their digits."""
    [r] = parse_report_push(
        '{"results":[{"msgid":1,"mobile":13800000000,"status":"DELIVRD","receivetime":1462880473}]}'
    )
    assert (r.msgid, r.mobile) == ("1", "13800000000")


@pytest.mark.parametrize("fmt", list(PushFormat))
def test_format_then_parse_round_trip(fmt: PushFormat) -> None:
    """What the simulator pushes, the receiver reads back identically, in every format."""
    reports = [("12345678901234", "13800000000", "DELIVRD", 1462880473)]
    data = format_report_push(reports, fmt)
    assert detect_push_format(data) is fmt
    [r] = parse_report_push(data, fmt)
    assert (r.msgid, r.mobile, r.status) == reports[0][:3]
    replies = [("2554", "1445347", "13811299999", "好, 100% & <ok>;", 1462913482)]
    [reply] = parse_reply_push(format_reply_push(replies, fmt), fmt)
    assert reply.content == "好, 100% & <ok>;"
    assert reply.reply_id == "1445347"
