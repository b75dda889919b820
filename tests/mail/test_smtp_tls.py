"""The relay over TLS as real relays take it, on loopback: STARTTLS with AUTH (a submission
port) and implicit TLS. The certificate and its host name are checked against the CAs the
environment names (`SSL_CERT_FILE`); a relay no CA vouches for, or one whose certificate
names another host, is refused before a byte of the message or the password is sent."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from publisher.config import Secrets, SmtpConfig
from publisher.mail.smtp import Connection, Kind, deliver
from publisher.tls import client_context
from tests.certificates import write_certificates
from tests.mail.messages import RECIPIENT, SENDER, message
from tests.servers import free_port

USER, PASSWORD = "relay-user", "relay-password"  # a loopback test server's throwaway login
# aiosmtpd warns about AUTH without its own STARTTLS; with implicit TLS the socket is TLS first.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Relay:
    """aiosmtpd's handler: keeps each message with whether it came over TLS, logged in."""

    def __init__(self) -> None:
        self.mails: list[tuple[bool, bool, list[str], bytes]] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        over_tls = server.transport is not None and server.transport.get_extra_info(
            "ssl_object") is not None
        self.mails.append((over_tls, bool(session.authenticated),
                           list(envelope.rcpt_tos), content))
        return "250 2.0.0 kept"


def login(server: SMTP, session: Session, envelope: Envelope, _mechanism: str,
          data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """The test CA's file and a server context for 127.0.0.1 it signed."""
    root = tmp_path_factory.mktemp("tls")
    ca_file = write_certificates(root)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(root / "server.pem", root / "server.key")
    return ca_file, server


@contextmanager
def relay(server_context: ssl.SSLContext, *, implicit: bool) -> Iterator[tuple[Relay, int]]:
    handler, port = Relay(), free_port()
    if implicit:  # aiosmtpd offers AUTH only after its own STARTTLS unless told otherwise
        controller = Controller(handler, hostname="127.0.0.1", port=port,
                                ssl_context=server_context, authenticator=login,
                                auth_required=True, auth_require_tls=False)
    else:
        controller = Controller(handler, hostname="127.0.0.1", port=port,
                                tls_context=server_context, require_starttls=True,
                                authenticator=login, auth_required=True)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def send_one(host: str, port: int, tls: str) -> tuple[Kind, str]:
    config = SmtpConfig(host=host, port=port, tls=tls, connect_timeout=10, command_timeout=10)  # type: ignore[arg-type]
    connection = Connection(config, Secrets(smtp_username=USER, smtp_password=PASSWORD))

    async def run() -> tuple[Kind, str]:
        reply = await deliver(connection, SENDER, RECIPIENT, message("tls"))
        await connection.close()
        return reply.kind, reply.text

    return asyncio.run(run())


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_a_relay_the_named_ca_vouches_for_takes_the_message_over_tls_after_login(
    tls: str, certificates: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_file, server_context = certificates
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    with relay(server_context, implicit=tls == "implicit") as (handler, port):
        kind, text = send_one("127.0.0.1", port, tls)
        assert (kind, text) == (Kind.SENT, "250 2.0.0 kept")
    [(over_tls, logged_in, recipients, content)] = handler.mails
    assert over_tls and logged_in and recipients == [RECIPIENT]
    assert content == message("tls").data.replace(b"\r\n..", b"\r\n.")


@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_a_relay_no_trusted_ca_vouches_for_gets_neither_the_password_nor_the_message(
    tls: str, certificates: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path
) -> None:
    _, server_context = certificates
    monkeypatch.setenv("SSL_CERT_FILE", str(write_certificates(tmp_path)))  # another CA
    with relay(server_context, implicit=tls == "implicit") as (handler, port):
        kind, text = send_one("127.0.0.1", port, tls)
    assert kind is not Kind.SENT and "CERTIFICATE_VERIFY_FAILED" in text, text
    assert handler.mails == []


def test_a_certificate_for_another_host_name_is_refused(
    certificates: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test CA's certificate names 127.0.0.1 only; the relay is reached as localhost."""
    ca_file, server_context = certificates
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    with relay(server_context, implicit=True) as (handler, port):
        kind, text = send_one("localhost", port, "implicit")
    assert kind is not Kind.SENT and "CERTIFICATE_VERIFY_FAILED" in text, text
    assert handler.mails == []


def test_one_context_per_ca_setting_and_never_below_tls_1_2(
    certificates: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    system = client_context()
    assert client_context() is system  # reading the CA bundle once per process
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates[0]))
    named = client_context()
    assert named is not system and client_context() is named
    for context in (system, named):
        assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
        assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
