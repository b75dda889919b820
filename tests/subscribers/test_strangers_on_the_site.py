"""What a stranger sends the public public, over raw HTTP to the real app under uvicorn: bodies
larger than any form (chunked too), forms the parser refuses, paths no file can have,
redirects that would lead elsewhere, and a whole IPv6 /64 posing as many clients."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from publisher.config import Config
from publisher.i18n import translator_for
from publisher.ratelimit import client_key
from publisher.web.forms import MAX_FORM_BYTES
from tests import web_client
from tests.subscribers.test_web_flows import Site, served

ZH = translator_for("zh-CN").gettext  # the seed site's language


@pytest.fixture
def public(seed_config: Config, tmp_path: Path) -> Iterator[Site]:
    """The seed site built and served on loopback, mailing into a catcher."""
    with served(seed_config, tmp_path) as running:
        yield running


def raw_exchange(public: Site, head: str, body_parts: Sequence[bytes] = (), end: bool = True,
                 ) -> tuple[int, dict[str, str], str]:
    """Send a request as bytes (so nothing normalises its path or framing) and read the
    answer; with `end` False the chunked body is left open, as a slow sender leaves it."""
    address = urlsplit(public.url)
    with socket.create_connection((address.hostname, address.port), timeout=20) as conn:
        chunks = b"".join(f"{len(part):x}\r\n".encode() + part + b"\r\n"
                          for part in body_parts)
        ending = b"0\r\n\r\n" if body_parts and end else b""
        # One write: the server may answer and close as soon as it has read enough.
        conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + chunks + ending)
        received = b""
        while b"\r\n\r\n" not in received or not _complete(received):
            chunk = conn.recv(65536)
            if not chunk:
                break
            received += chunk
    head_bytes, _, content = received.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, content.decode("utf-8", "replace")


def _complete(received: bytes) -> bool:
    head, _, content = received.partition(b"\r\n\r\n")
    for line in head.decode("latin-1").split("\r\n"):
        if line.lower().startswith("content-length:"):
            return len(content) >= int(line.split(":", 1)[1])
    return False


def get(public: Site, path: str) -> tuple[int, dict[str, str], str]:
    return raw_exchange(public, f"GET {path} HTTP/1.1\nHost: {urlsplit(public.url).netloc}\n"
                              "Connection: close\n")


def chunked_post(public: Site, path: str, parts: list[bytes], end: bool = True,
                 ) -> tuple[int, dict[str, str], str]:
    return raw_exchange(public, f"POST {path} HTTP/1.1\nHost: {urlsplit(public.url).netloc}\n"
                              f"Origin: {public.url}\nConnection: close\n"
                              "Content-Type: application/x-www-form-urlencoded\n"
                              "Transfer-Encoding: chunked\n", parts, end)


def test_a_chunked_body_over_the_limit_is_refused_with_413_and_nothing_is_stored(
        public: Site) -> None:
    form = b"email=chunked%40example.org&name=&pad=" + b"a" * (2 * MAX_FORM_BYTES)
    parts = [form[i:i + 1000] for i in range(0, len(form), 1000)]
    status, headers, page = chunked_post(public, "/subscribe", parts)
    assert status == 413, page[:500]
    assert ZH("Too much to send") in page and str(MAX_FORM_BYTES) in page
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert public.status("chunked@example.org") is None
    # The same form within the limit is taken: the limit is what refused it.
    small = [b"email=chunked%40example.org"]
    assert chunked_post(public, "/subscribe", small)[0] == 303
    assert public.status("chunked@example.org") == "pending"


@pytest.mark.parametrize("path", ["/subscribe", "/admin/login"])
def test_a_chunked_body_that_never_ends_is_cut_off_at_the_limit(public: Site, path: str) -> None:
    """The answer comes while the sender is still sending: nothing waits for (or keeps) a
    20 MB body to find out it is too large."""
    parts = [b"username=x&pad=" + b"a" * 1000] + [b"a" * 1024] * 8
    status, _, page = chunked_post(public, path, parts, end=False)
    assert status == 413 and ZH("Too much to send") in page


def test_a_declared_length_over_the_limit_is_refused_before_reading(public: Site) -> None:
    response = web_client.post(public.url + "/subscribe", content=b"email=x%40example.org&p="
                               + b"a" * MAX_FORM_BYTES, headers={
                              "Origin": public.url,
                              "Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413 and ZH("Too much to send") in response.text


@pytest.mark.parametrize(("content", "content_type"), [
    ("&".join(f"f{n}=1" for n in range(41)), "application/x-www-form-urlencoded"),
    ('--b\r\nContent-Disposition: form-data; name="email"; filename="a.txt"\r\n\r\n'
     "a@example.org\r\n--b--\r\n", "multipart/form-data; boundary=b"),
    ('--b\r\nContent-Disposition: form-data; name="email"\r\n\r\na\r\n--b--\r\n',
     "multipart/form-data"),
])
def test_forms_the_parser_refuses_get_the_400_page_in_the_sites_language(
        public: Site, content: str, content_type: str) -> None:
    for path in ("/subscribe", "/admin/login"):
        response = web_client.post(public.url + path, content=content.encode(),
                                   headers={"Origin": public.url, "Content-Type": content_type})
        assert response.status_code == 400, (path, response.text[:300])
        assert response.headers["content-type"].startswith("text/html")
        assert ZH("This request cannot be read") in response.text, response.text[:300]
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["//issues", "/%2Fissues", "///issues", "//issues/",
                                  "/%2F%2Fissues", "/issues//", "//%2F/issues"])
def test_redirects_go_to_a_single_slash_path_of_this_site(public: Site, path: str) -> None:
    status, headers, _ = get(public, path)
    assert (status, headers["location"]) == (301, "/issues/")


def test_a_folder_reached_by_a_doubled_slash_redirects_to_its_own_path(public: Site) -> None:
    status, headers, _ = get(public, "//issues/2024-06-first-half")
    assert (status, headers["location"]) == (301, "/issues/2024-06-first-half/")
    assert get(public, "/issues/2024-06-first-half/")[0] == 200


@pytest.mark.parametrize("path", ["/%00", "/issues/%00/index.html", "/" + "a" * 300,
                                  "/" + "a/" * 2100, "/issues/" + "%C3%A9" * 200])
def test_paths_no_file_can_have_get_the_404_page_with_the_security_headers(
        public: Site, path: str) -> None:
    status, headers, page = get(public, path)
    assert status == 404, page[:500]
    assert ZH("Page not found") in page
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"


def test_one_ipv6_64_is_one_client_for_the_subscribe_limit(public: Site) -> None:
    def from_address(host: str, n: int) -> int:
        return public.post("/subscribe", {"email": f"v6-{n}@example.org"},
                         **{"X-Forwarded-For": host}).status_code

    same_line = [from_address(f"2001:db8:1:2::{n:x}", n) for n in range(1, 9)]
    assert same_line == [303] * 5 + [429] * 3
    assert from_address("2001:db8:1:3::1", 9) == 303  # the next /64 is another client
    assert from_address("203.0.113.5", 10) == 303


@pytest.mark.parametrize(("host", "key"), [
    ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
    ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
    ("::ffff:203.0.113.5", "203.0.113.5"),
    ("203.0.113.5", "203.0.113.5"),
    ("unknown", "unknown"),
])
def test_a_client_is_limited_by_its_ipv4_address_or_its_ipv6_64(host: str, key: str) -> None:
    assert client_key(host) == key
