"""The envelope address on MAIL and RCPT lines is what aiosmtplib's `quote_address` writes,
whether or not the plain-address shortcut takes it."""

from __future__ import annotations

import pytest
from aiosmtplib.email import quote_address
from hypothesis import given
from hypothesis import strategies as st

from publisher.mail.transaction import quoted

ATOM = st.from_regex(r"[A-Za-z0-9_+-]{1,12}", fullmatch=True)
PLAIN = st.builds(lambda local, domain: f"{'.'.join(local)}@{'.'.join(domain)}",
                  st.lists(ATOM, min_size=1, max_size=3),
                  st.lists(st.from_regex(r"[A-Za-z0-9-]{1,12}", fullmatch=True), min_size=1,
                           max_size=3))
AWKWARD = st.text(st.sampled_from("ab.@+-_'\"() <>,;:\\\t é读"), max_size=24)


def aiosmtplib_or_error(address: str) -> str:
    try:
        return quote_address(address)
    except ValueError as exc:
        return f"ValueError: {exc}"


def ours_or_error(address: str) -> str:
    try:
        return quoted(address)
    except ValueError as exc:
        return f"ValueError: {exc}"


@given(st.one_of(PLAIN, AWKWARD))
def test_every_address_is_quoted_as_aiosmtplib_quotes_it(address: str) -> None:
    assert ours_or_error(address) == aiosmtplib_or_error(address)


@pytest.mark.parametrize("address", [
    "o'brien+digest@example.net", "Ada <ada@example.org>", "a..b@example.org",
    "\"quoted local\"@example.org", "ada@[127.0.0.1]", " ada@example.org ", "读者@例子.中国",
])
def test_addresses_off_the_shortcut_go_through_aiosmtplib(address: str) -> None:
    assert ours_or_error(address) == aiosmtplib_or_error(address)
