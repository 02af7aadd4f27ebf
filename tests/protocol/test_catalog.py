"""The catalog matches §2.2, §3–§10 and §3.6 of the document."""

from __future__ import annotations

import pytest

from m5c_async.protocol import (
    ENDPOINTS,
    NODES,
    PROFILES,
    BusinessType,
    EndpointName,
    Profile,
    node_by_name,
)


def test_four_nodes_with_hosts_and_ips() -> None:
    """The nodes of §2.2, Qingdao first."""
    assert [(n.name, n.host, n.ip) for n in NODES] == [
        ("qingdao", "m.5c.com.cn", "115.28.23.78"),
        ("beijing", "bj.5c.com.cn", "182.92.160.86"),
        ("hongkong", "hk.5c.com.cn", "58.96.181.93"),
        ("us", "us.5c.com.cn", "47.88.104.103"),
    ]
    assert NODES[1].base_url("http") == "http://bj.5c.com.cn"
    assert NODES[3].base_url() == "https://us.5c.com.cn"


def test_node_by_name() -> None:
    """Lookup by name, KeyError for unknown names."""
    assert node_by_name("hongkong").label == "香港"
    with pytest.raises(KeyError):
        node_by_name("mars")


def test_profiles_of_section_3_6() -> None:
    """Rates, concurrency and packet sizes of the three business types."""
    caps = {k: (p.rate, p.concurrency, p.packet_size) for k, p in PROFILES.items()}
    assert caps == {
        BusinessType.NOTIFICATION: (600, 300, 10_000),
        BusinessType.PERSONALIZED: (200, 200, 1),
        BusinessType.MARKETING: (150, 100, 5_000_000),
    }


def test_profile_rejects_non_positive_caps() -> None:
    """A profile with a zero rate is refused."""
    with pytest.raises(ValueError, match="positive"):
        Profile(kind=BusinessType.MARKETING, rate=0, concurrency=1, packet_size=1)


@pytest.mark.parametrize(
    ("name", "path", "fixed"),
    [
        (EndpointName.SEND, "/api/send/index.php", ()),
        (EndpointName.SEND_JSON, "/api/send/index.php", (("format", "json"),)),
        (EndpointName.SEND_XML, "/api/send/index.php", (("format", "xml"),)),
        (EndpointName.SEND_SOAP, "/api/send/sms_webservice.php", ()),
        (EndpointName.SEND_BATCH, "/api/send/sms_batch.php", (("format", "xml"),)),
        (EndpointName.BALANCE, "/api/query/index.php", ()),
        (EndpointName.RECORDS, "/api/query/index.php", (("action", "record"),)),
        (EndpointName.BILLING, "/api/query/index.php", (("action", "billing"),)),
        (EndpointName.REPORTS, "/api/recv/index.php", ()),
        (EndpointName.REPORTS_FOR, "/api/recv/index.php", ()),
        (EndpointName.REPLIES, "/api/reply/index.php", ()),
        (EndpointName.REPLIES_BETWEEN, "/api/reply/index.php", (("action", "queryByCondition"),)),
        (EndpointName.BLACKLIST_CHECK, "/api/black/index.php", (("action", "check"),)),
        (EndpointName.BLACKLIST_REMOVE, "/api/black/index.php", (("action", "add"),)),
        (EndpointName.BIND_IP, "/api/bind/index.php", (("action", "0"),)),
    ],
)
def test_endpoint_paths(name: EndpointName, path: str, fixed: tuple[tuple[str, str], ...]) -> None:
    """Every endpoint of the document, with its path and fixed parameters."""
    endpoint = ENDPOINTS[name]
    assert endpoint.path == path
    assert endpoint.fixed == fixed


def test_parameter_rules_from_the_tables() -> None:
    """Length rules and requiredness follow the tables."""
    send = ENDPOINTS[EndpointName.SEND]
    assert send.param("content").max_len == 500
    assert send.param("ext").max_len == 10
    assert not send.param("startTime").required
    assert send.param("password_md5").min_len == 32
    billing = ENDPOINTS[EndpointName.BILLING]
    assert billing.param("agent_username").max_len == 32
    assert not billing.param("agent_username").required
    assert ENDPOINTS[EndpointName.SEND_JSON].param("type").required
    with pytest.raises(KeyError):
        send.param("nope")


def test_flags_for_sends_and_consuming_pulls() -> None:
    """Only sends are unsafe to repeat; report and reply pulls consume data."""
    sends = {n for n, e in ENDPOINTS.items() if e.sends}
    assert sends == {
        EndpointName.SEND,
        EndpointName.SEND_JSON,
        EndpointName.SEND_XML,
        EndpointName.SEND_SOAP,
        EndpointName.SEND_BATCH,
    }
    consuming = {n for n, e in ENDPOINTS.items() if e.consumes}
    assert consuming == {EndpointName.REPORTS, EndpointName.REPLIES}
    assert ENDPOINTS[EndpointName.SEND_SOAP].methods == ("POST",)
    assert ENDPOINTS[EndpointName.SEND_BATCH].methods == ("POST",)


def test_read_only_endpoints_are_the_queries_that_change_nothing() -> None:
    """The catalog decides which failed requests may go to the next node: not the sends, not
    the pulls that consume, not blacklist removal or IP binding."""
    from m5c_async.protocol import ENDPOINTS, EndpointName

    read_only = {name for name, e in ENDPOINTS.items() if e.read_only}
    assert read_only == {
        EndpointName.BALANCE,
        EndpointName.RECORDS,
        EndpointName.BILLING,
        EndpointName.REPORTS_FOR,
        EndpointName.REPLIES_BETWEEN,
        EndpointName.BLACKLIST_CHECK,
    }
    assert {n for n, e in ENDPOINTS.items() if e.changes} == {
        EndpointName.BLACKLIST_REMOVE,
        EndpointName.BIND_IP,
    }


def test_encoders_take_their_length_rules_from_the_catalog() -> None:
    """Content and ext limits are the catalog's Param fields, not numbers of their own."""
    import pytest

    from m5c_async import Credentials, InvalidParameterError
    from m5c_async.protocol import ENDPOINTS, MAX_CONTENT_CHARS, EndpointName, build_send

    send = ENDPOINTS[EndpointName.SEND]
    assert send.param("content").max_len == MAX_CONTENT_CHARS == 500
    ext = send.param("ext")
    assert (ext.min_len, ext.max_len) == (1, 10)
    creds = Credentials.create(username="demo", password="pw", apikey="k" * 32)
    build_send(creds, ["13800138000"], "hi", ext="1" * ext.max_len)
    with pytest.raises(InvalidParameterError, match="ext must be 1 to 10 digits"):
        build_send(creds, ["13800138000"], "hi", ext="1" * (ext.max_len + 1))
