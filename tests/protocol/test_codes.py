"""Every error reply of §3.1.2, §4.1.2 and §10 maps to exactly one class of the tree."""

from __future__ import annotations

import pytest

from m5c_async import (
    AccountBlockedError,
    AccountError,
    AuthenticationError,
    BlacklistOperationError,
    InsufficientBalanceError,
    M5CError,
    MissingParameterError,
    ProviderError,
    ProviderRequestError,
    SendRefusedError,
    ThrottledError,
    UnauthorizedIPError,
    UnknownProviderError,
    UnrecognizedEncodingError,
    Verdict,
)
from m5c_async.protocol import (
    CODES,
    VARIANTS,
    ErrorReply,
    error_for_reply,
    is_error_reply,
)

DOCUMENT = {
    "error:Missing username": MissingParameterError,
    "error:Missing password": MissingParameterError,
    "error:Missing apikey": MissingParameterError,
    "error:Missing recipient": MissingParameterError,
    "error:Missing message content": MissingParameterError,
    "error:Account is blocked": AccountBlockedError,
    "error:Unrecognized encoding": UnrecognizedEncodingError,
    "error:APIKEY or password error": AuthenticationError,
    "error:Unauthorized IP address": UnauthorizedIPError,
    "error:Account balance is insufficient": InsufficientBalanceError,
    "error:Throughput Rate Exceeded": ThrottledError,
    "error:Invalid md5 password length": AuthenticationError,
    "error:Missing from parameter": MissingParameterError,
    "error:Missing to parameter": MissingParameterError,
    "error:Non black number or no allow operation": BlacklistOperationError,
}


def test_table_holds_every_documented_reply_once() -> None:
    """The table and the document list the same texts, each once."""
    texts = [c.text for c in CODES]
    assert len(texts) == len(set(texts))
    assert set(texts) == set(DOCUMENT)


@pytest.mark.parametrize(("text", "cls"), DOCUMENT.items())
def test_each_reply_maps_to_its_class(text: str, cls: type[ProviderError]) -> None:
    """error_for_reply builds the mapped class, keeping the text and the node."""
    err = error_for_reply(f"  {text}\r\n", node="qingdao", endpoint="send")
    assert type(err) is cls
    assert err.reply == text
    assert "qingdao" in str(err)
    assert is_error_reply(text)


def test_verdicts_come_from_the_classes() -> None:
    """Throttling is the only reply worth repeating; account errors are fatal; the rest are
    pointless. The table carries no verdict of its own: it is the class's."""
    for code in CODES:
        assert code.verdict is code.error.verdict
        if code.error is ThrottledError:
            assert code.verdict is Verdict.THROTTLED
        elif issubclass(code.error, AccountError):
            assert code.verdict is Verdict.FATAL
        else:
            assert code.verdict is Verdict.POINTLESS
    assert ThrottledError("x").retryable
    assert not AuthenticationError("x").retryable
    assert SendRefusedError("error:7", msgid="7").verdict is Verdict.POINTLESS
    assert issubclass(ProviderRequestError, M5CError)


# (reply text, class, msgid attribute or None when the class has none)
VARIANT_TABLE = [
    ("error:APIKEY or password_md5 error", AuthenticationError, None),
    (" error:APIKEY or password_md5 error\r\n", AuthenticationError, None),
    ("error:13958008415478", SendRefusedError, "13958008415478"),
    ("error:7", SendRefusedError, "7"),
    ("  error:13958008415478\n", SendRefusedError, "13958008415478"),
    ("error:1395800841547x", UnknownProviderError, None),
    ("error:APIKEY or password_MD5 error", UnknownProviderError, None),
]


@pytest.mark.parametrize(("text", "cls", "msgid"), VARIANT_TABLE)
def test_variants_and_error_msgid(text: str, cls: type[ProviderError], msgid: str | None) -> None:
    """Variants map like their documented text; ``error:<digits>`` exposes its msgid."""
    err = error_for_reply(text, node="beijing", endpoint="send")
    assert type(err) is cls
    assert err.reply == text.strip()
    if cls is SendRefusedError:
        assert isinstance(err, SendRefusedError)
        assert err.msgid == msgid


def test_variants_are_not_document_texts() -> None:
    """VARIANTS are kept apart from the document's table, and each names what it varies."""
    assert {c.text for c in VARIANTS}.isdisjoint(DOCUMENT)
    assert all(c.section.startswith("variant of ") for c in VARIANTS)


def test_error_replies_are_the_table_texts() -> None:
    """ErrorReply (what the simulator answers) and CODES hold the same texts."""
    assert {str(r) for r in ErrorReply} == {c.text for c in CODES}


def test_unknown_error_keeps_its_text() -> None:
    """An undocumented error becomes UnknownProviderError with the text."""
    err = error_for_reply("error:Something new happened")
    assert isinstance(err, UnknownProviderError)
    assert err.reply == "error:Something new happened"
    assert isinstance(err, M5CError)
    assert not is_error_reply("success:123")


def test_long_error_text_is_truncated_in_the_message() -> None:
    """Messages keep at most a short excerpt of a long reply."""
    err = error_for_reply("error:" + "x" * 5000)
    assert len(str(err)) < 300
    assert len(err.reply) == 5006
