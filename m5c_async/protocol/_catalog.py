"""The platform as data: its nodes (§2.2), endpoints (§3–§10) and business profiles (§3.6).

Nothing here performs I/O; the client and the simulator both read these tables, so a path or a
parameter rule is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from .._exceptions import InvalidParameterError

__all__ = [
    "ENDPOINTS",
    "NODES",
    "PROFILES",
    "BusinessType",
    "Endpoint",
    "EndpointName",
    "Node",
    "Param",
    "Profile",
    "Scheme",
    "node_by_name",
]


class Scheme(StrEnum):
    """URL scheme; https keeps credentials off the wire (§2.1, V6.7)."""

    HTTP = "http"
    HTTPS = "https"


@dataclass(frozen=True, slots=True, kw_only=True)
class Node:
    """One API node of §2.2.

    Example:
        >>> NODES[0].base_url("https")
        'https://m.5c.com.cn'
    """

    name: str
    label: str
    host: str
    ip: str

    def base_url(self, scheme: str = Scheme.HTTPS) -> str:
        """Return ``scheme://host`` for this node."""
        return f"{Scheme(scheme).value}://{self.host}"


#: The four nodes in the document's order; Qingdao is the primary.
NODES: Final[tuple[Node, ...]] = (
    Node(name="qingdao", label="青岛", host="m.5c.com.cn", ip="115.28.23.78"),
    Node(name="beijing", label="北京", host="bj.5c.com.cn", ip="182.92.160.86"),
    Node(name="hongkong", label="香港", host="hk.5c.com.cn", ip="58.96.181.93"),
    Node(name="us", label="美国", host="us.5c.com.cn", ip="47.88.104.103"),
)


def node_by_name(name: str) -> Node:
    """Return the catalog node called ``name`` (qingdao, beijing, hongkong, us).

    Raises:
        KeyError: for an unknown name.
    """
    for node in NODES:
        if node.name == name:
            return node
    raise KeyError(name)


class BusinessType(StrEnum):
    """The three kinds of traffic of §3.6."""

    NOTIFICATION = "notification"
    PERSONALIZED = "personalized"
    MARKETING = "marketing"


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """The caps of one business type (§3.6).

    Attributes:
        rate: messages a second (each number of a packet is one message).
        concurrency: requests in flight at most.
        packet_size: numbers a request at most.
    """

    kind: BusinessType
    rate: float
    concurrency: int
    packet_size: int

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.concurrency < 1 or self.packet_size < 1:
            raise InvalidParameterError("rate, concurrency and packet_size must be positive")


PROFILES: Final[dict[BusinessType, Profile]] = {
    BusinessType.NOTIFICATION: Profile(
        kind=BusinessType.NOTIFICATION, rate=600, concurrency=300, packet_size=10_000
    ),
    BusinessType.PERSONALIZED: Profile(
        kind=BusinessType.PERSONALIZED, rate=200, concurrency=200, packet_size=1
    ),
    BusinessType.MARKETING: Profile(
        kind=BusinessType.MARKETING, rate=150, concurrency=100, packet_size=5_000_000
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Param:
    """One parameter of an endpoint, with the length rule of the document's table."""

    name: str
    required: bool
    min_len: int | None = None
    max_len: int | None = None
    digits: bool = False
    note: str = ""


class EndpointName(StrEnum):
    """Catalog names of the endpoints."""

    SEND = "send"
    SEND_JSON = "send_json"
    SEND_XML = "send_xml"
    SEND_SOAP = "send_soap"
    SEND_BATCH = "send_batch"
    BALANCE = "balance"
    RECORDS = "records"
    BILLING = "billing"
    REPORTS = "reports"
    REPORTS_FOR = "reports_for"
    REPLIES = "replies"
    REPLIES_BETWEEN = "replies_between"
    BLACKLIST_CHECK = "blacklist_check"
    BLACKLIST_REMOVE = "blacklist_remove"
    BIND_IP = "bind_ip"


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One endpoint of the document.

    Attributes:
        fixed: parameters with a fixed value (``action``, ``format``).
        sends: True when a request can make the platform send messages (never retried blindly).
        consumes: True when reading it removes data on the platform (report and reply pulls).
        changes: True when it changes the account's state (blacklist removal, IP binding).
    """

    name: EndpointName
    path: str
    methods: tuple[str, ...]
    section: str
    params: tuple[Param, ...]
    fixed: tuple[tuple[str, str], ...] = ()
    sends: bool = False
    consumes: bool = False
    changes: bool = False
    payload: tuple[Param, ...] = field(default=())

    @property
    def read_only(self) -> bool:
        """True when asking again (another node, after a failure) cannot send, consume or change
        anything: a failed read-only request may go to the next node."""
        return not (self.sends or self.consumes or self.changes)

    def param(self, name: str) -> Param:
        """Return the parameter called ``name`` (URL or payload)."""
        for p in (*self.params, *self.payload):
            if p.name == name:
                return p
        raise KeyError(name)


_GP = ("GET", "POST")
_USERNAME = Param(name="username", required=True, min_len=3, max_len=20)
_MD5 = Param(name="password_md5", required=True, min_len=32, max_len=32, note="lowercase md5")
_APIKEY = Param(name="apikey", required=True, min_len=32, max_len=32)
_AUTH = (_USERNAME, _MD5, _APIKEY)
_ENCODE_REQ = Param(name="encode", required=True, note="GBK or UTF-8, any case")
_ENCODE_OPT = Param(name="encode", required=False, note="GBK or UTF-8, any case")
_FROM = Param(name="from", required=True, min_len=10, max_len=10, digits=True)
_TO = Param(name="to", required=True, min_len=10, max_len=10, digits=True)
_SEND_FIELDS = (
    Param(name="mobile", required=True, note="comma or semicolon separated"),
    Param(name="content", required=True, min_len=1, max_len=500, note="urlencoded"),
    Param(name="startTime", required=False, min_len=10, max_len=10, digits=True),
    Param(name="ext", required=False, min_len=1, max_len=10, digits=True),
)
_DATA = Param(name="data", required=True, note="the JSON or XML document")
_FORMAT = Param(name="format", required=True)
_SEND_PATH = "/api/send/index.php"
_QUERY_PATH = "/api/query/index.php"
_RECV_PATH = "/api/recv/index.php"
_REPLY_PATH = "/api/reply/index.php"
_BLACK_PATH = "/api/black/index.php"

_ENDPOINT_LIST: Final[tuple[Endpoint, ...]] = (
    Endpoint(
        name=EndpointName.SEND,
        path=_SEND_PATH,
        methods=_GP,
        section="3.1",
        params=(*_AUTH, *_SEND_FIELDS, _ENCODE_REQ),
        sends=True,
    ),
    Endpoint(
        name=EndpointName.SEND_JSON,
        path=_SEND_PATH,
        methods=_GP,
        section="3.2",
        params=(_FORMAT, _DATA),
        fixed=(("format", "json"),),
        payload=(Param(name="type", required=True), *_AUTH, _ENCODE_REQ, *_SEND_FIELDS),
        sends=True,
    ),
    Endpoint(
        name=EndpointName.SEND_XML,
        path=_SEND_PATH,
        methods=_GP,
        section="3.3",
        params=(_FORMAT, _DATA),
        fixed=(("format", "xml"),),
        payload=(Param(name="type", required=True), *_AUTH, _ENCODE_REQ, *_SEND_FIELDS),
        sends=True,
    ),
    Endpoint(
        name=EndpointName.SEND_SOAP,
        path="/api/send/sms_webservice.php",
        methods=("POST",),
        section="3.4",
        params=(),
        payload=(
            _APIKEY,
            _USERNAME,
            Param(name="password", required=True, min_len=32, max_len=32, note="md5"),
            Param(name="mobile", required=True),
            Param(name="content", required=True, min_len=1, max_len=500, note="plain text"),
        ),
        sends=True,
    ),
    Endpoint(
        name=EndpointName.SEND_BATCH,
        path="/api/send/sms_batch.php",
        methods=("POST",),
        section="3.5",
        params=(_FORMAT, _DATA),
        fixed=(("format", "xml"),),
        payload=(*_AUTH, _ENCODE_REQ, *_SEND_FIELDS[:3]),
        sends=True,
    ),
    Endpoint(name=EndpointName.BALANCE, path=_QUERY_PATH, methods=_GP, section="4.1", params=_AUTH),
    Endpoint(
        name=EndpointName.RECORDS,
        path=_QUERY_PATH,
        methods=_GP,
        section="5.1",
        params=(*_AUTH, _ENCODE_REQ, _FROM, _TO),
        fixed=(("action", "record"),),
    ),
    Endpoint(
        name=EndpointName.BILLING,
        path=_QUERY_PATH,
        methods=_GP,
        section="5.1",
        params=(
            *_AUTH,
            _ENCODE_REQ,
            Param(name="agent_username", required=False, min_len=0, max_len=32),
            _FROM,
            _TO,
        ),
        fixed=(("action", "billing"),),
    ),
    Endpoint(
        name=EndpointName.REPORTS,
        path=_RECV_PATH,
        methods=_GP,
        section="6.1.2",
        params=_AUTH,
        consumes=True,
    ),
    Endpoint(
        name=EndpointName.REPORTS_FOR,
        path=_RECV_PATH,
        methods=_GP,
        section="6.1.3",
        params=(*_AUTH, _FROM, _TO, Param(name="mobile", required=True, note="one or more")),
    ),
    Endpoint(
        name=EndpointName.REPLIES,
        path=_REPLY_PATH,
        methods=_GP,
        section="8.1",
        params=(*_AUTH, _ENCODE_OPT, Param(name="debug", required=False, max_len=1, digits=True)),
        consumes=True,
    ),
    Endpoint(
        name=EndpointName.REPLIES_BETWEEN,
        path=_REPLY_PATH,
        methods=_GP,
        section="8.2",
        params=(*_AUTH, _ENCODE_OPT, _FROM, _TO, Param(name="mobile", required=False)),
        fixed=(("action", "queryByCondition"),),
    ),
    Endpoint(
        name=EndpointName.BLACKLIST_CHECK,
        path=_BLACK_PATH,
        methods=_GP,
        section="10.1",
        params=(*_AUTH, Param(name="mobile", required=True, min_len=11, max_len=11, digits=True)),
        fixed=(("action", "check"),),
    ),
    Endpoint(
        name=EndpointName.BLACKLIST_REMOVE,
        path=_BLACK_PATH,
        methods=_GP,
        section="10.2",
        params=(*_AUTH, Param(name="mobile", required=True, min_len=11, max_len=11, digits=True)),
        fixed=(("action", "add"),),
        changes=True,
    ),
    Endpoint(
        name=EndpointName.BIND_IP,
        path="/api/bind/index.php",
        methods=_GP,
        section="2.3",
        params=(*_AUTH, Param(name="ip", required=True, note="comma-separated IPv4 list")),
        fixed=(("action", "0"),),
        changes=True,
    ),
)

ENDPOINTS: Final[dict[EndpointName, Endpoint]] = {e.name: e for e in _ENDPOINT_LIST}
