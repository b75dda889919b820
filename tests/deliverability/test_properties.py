"""Property tests at the edges: issue parsing, header building, tokens, HTML sanitising."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html

from publisher.content.issues import parse_issue_text
from publisher.content.markup import sanitise, to_html
from publisher.errors import BadToken, InvalidAddress, IssueFileError
from publisher.mail.message_ids import MessageIds
from publisher.mail.mime import Personaliser, Recipient, SendContext, check_address, prepare
from publisher.mail.rendered import RenderedEmail
from publisher.tokens import Purpose, TokenSigner

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
PATH = Path("fuzz.md")

front_matter_values = st.one_of(
    st.text(max_size=40), st.integers(), st.none(), st.booleans(),
    st.lists(st.text(max_size=10), max_size=3),
    st.sampled_from(["2024-06-16T09:00:00+08:00", "2024-06-16T09:00:00", "2024-06-16", "x"]))
keys = st.sampled_from(["title", "date", "summary", "tags", "authors", "language", "source",
                        "send_at", "draft", "slug", "id", "updated", "bogus"])


@FAST
@given(st.dictionaries(keys, front_matter_values, max_size=8), st.text(max_size=300))
def test_issue_parsing_either_succeeds_or_gives_located_problems(
    fields: dict[str, object], body: str
) -> None:
    import yaml

    text = "---\n" + yaml.safe_dump(fields, allow_unicode=True) + "---\n" + body
    try:
        issue = parse_issue_text(text, PATH)
    except IssueFileError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.path == PATH and problem.line is not None and problem.line >= 1
        return
    assert issue.title and issue.meta.date.tzinfo is not None


@FAST
@given(st.text(max_size=500))
def test_arbitrary_text_as_an_issue_file_never_crashes(text: str) -> None:
    try:
        parse_issue_text(text, PATH)
    except IssueFileError as exc:
        assert all(str(problem).startswith("fuzz.md") for problem in exc.problems)


def _context(subject: str, from_name: str) -> SendContext:
    rendered = RenderedEmail("s", subject, "en", "<p>@@NAME@@ @@EMAIL@@</p>",
                             "Hi @@NAME@@ @@UNSUBSCRIBE_URL@@\n")
    return SendContext(rendered, "tag:x,2024:s", "https://d.example", from_name,
                       "digest@example.org", None, None, "Site", datetime(2024, 1, 1,
                                                                          tzinfo=UTC))


local_parts = st.from_regex(r"[a-zA-Z0-9._%+-]{1,30}", fullmatch=True)


@FAST
@given(subject=st.text(min_size=1, max_size=200), from_name=st.text(max_size=80),
       name=st.text(max_size=120), local=local_parts)
def test_no_name_subject_or_address_can_inject_a_header_or_break_a_line(
    subject: str, from_name: str, name: str, local: str
) -> None:
    context = _context(subject, from_name)
    personaliser = Personaliser(context, TokenSigner(("k" * 24,)), "example.org",
                                MessageIds(("k" * 24,)))
    address = f"{local}@example.net"
    raw = prepare(context).personalise(personaliser.values(Recipient(7, address, name)))
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message.defects == [] or all("Header" not in type(d).__name__ for d in message.defects)
    names = [key.lower() for key in message.keys()]
    assert names.count("to") == 1 and "bcc" not in names and names.count("subject") == 1
    assert message["To"].addresses[0].addr_spec == address
    clean = " ".join(re.sub(r"[\x00-\x1f\x7f]+", " ", name).split())
    assert " ".join(message["To"].addresses[0].display_name.split()) == clean
    assert " ".join(str(message["Subject"]).split()) == " ".join(
        re.sub(r"[\x00-\x1f\x7f]+", " ", subject).split())


@FAST
@given(st.text(max_size=60))
def test_addresses_that_could_break_a_header_are_refused(address: str) -> None:
    try:
        checked = check_address(address)
    except InvalidAddress:
        return
    assert re.fullmatch(r"[^\s<>@,;:\"\\]+@[A-Za-z0-9.-]+", checked)


@FAST
@given(st.text(max_size=700))
def test_token_verification_raises_only_bad_token(token: str) -> None:
    signer = TokenSigner(("k" * 24,))
    for purpose in Purpose:
        try:
            signer.verify(purpose, token)
        except BadToken:
            pass


DANGEROUS = st.sampled_from([
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[x](javascript:alert(1))",
    "<a href=\"javascript:alert(1)\">x</a>", "<svg onload=alert(1)>", "<iframe src=//x>",
    "[x](JaVaScRiPt:alert(1))", "![a](javascript:alert(1))", "<p onclick=\"x()\">p</p>",
    "<style>body{}</style>", "[x](data:text/html;base64,PHNjcmlwdD4=)",
])


@FAST
@given(st.lists(st.one_of(DANGEROUS, st.text(max_size=30)), max_size=6))
def test_no_script_handler_or_javascript_url_survives_into_html(pieces: list[str]) -> None:
    markdown = "\n\n".join(pieces)
    for html in (to_html(markdown), to_html(markdown, email=True), sanitise(markdown)):
        if not html.strip():
            continue
        for element in lxml_html.fragments_fromstring(html):
            if isinstance(element, str):
                continue
            for node in element.iter():
                assert str(node.tag).lower() not in {"script", "iframe", "svg", "style"}
                for name, value in node.attrib.items():
                    assert not name.lower().startswith("on"), (name, html)
                    scheme = value.strip().lower().replace("\t", "").replace("\n", "")
                    if name.lower() in ("href", "src"):
                        assert not scheme.startswith(("javascript:", "data:", "vbscript:"))
