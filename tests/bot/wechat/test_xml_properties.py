"""Property tests of the webhook XML parser (hypothesis): any body is a dict or ``MalformedXml``."""

from __future__ import annotations

from xml.sax.saxutils import escape

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.wechat.errors import MalformedXml
from bot.wechat.webhook import parse_xml

tags = st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,11}", fullmatch=True)
# XML 1.0 cannot carry most control characters; WeChat's own messages never do.
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=40,
)


@given(st.binary(max_size=300) | st.text(max_size=300))
@settings(max_examples=400)
def test_any_body_is_parsed_or_refused_cleanly(body: bytes | str) -> None:
    try:
        parsed = parse_xml(body)
    except MalformedXml:
        return
    assert isinstance(parsed, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items())


@given(st.dictionaries(tags, texts, max_size=6))
def test_a_flat_message_round_trips(fields: dict[str, str]) -> None:
    body = "<xml>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items()) + "</xml>"
    assert parse_xml(body.encode()) == fields


@given(
    st.sampled_from(
        ["<!DOCTYPE x [<!ENTITY a 'b'>]>", "<!DOCTYPE xml SYSTEM 'file:///etc/passwd'>"]
    ),
    texts,
)
def test_documents_with_a_dtd_are_refused(doctype: str, text: str) -> None:
    try:
        parse_xml(f"{doctype}<xml><A>{escape(text)}</A></xml>".encode())
    except MalformedXml:
        return
    raise AssertionError("a DTD was accepted")
