"""`publisher dev catch`: the local catcher a newcomer runs beside `serve` to see the mails
publisher sends, each shown (recipient, subject, links) as it arrives and kept in a Maildir."""

from __future__ import annotations

import mailbox
import re
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from tests import web_client
from tests.sending.helpers import write_config_file
from tests.servers import free_port, wait_for_port


def test_dev_catch_shows_each_mail_as_it_arrives_and_keeps_it(tmp_path: Path) -> None:
    port = free_port()
    config = write_config_file(tmp_path, port, f"sqlite:///{tmp_path / 'p.db'}")
    catcher = subprocess.Popen(
        [sys.executable, "-m", "publisher.cli", "--config", str(config), "dev", "catch"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"})
    try:
        assert catcher.stdout is not None
        first = catcher.stdout.readline()
        assert f"catching mail on 127.0.0.1:{port}" in first, catcher.communicate(timeout=30)
        assert "Ctrl-C" in first
        wait_for_port("127.0.0.1", port)
        message = EmailMessage()
        message["From"] = "digest@example.org"
        message["To"] = "reader@example.net"
        message["Subject"] = "请确认订阅 LLM 论文双周摘要"
        message.set_content("确认链接：\nhttp://127.0.0.1:8000/confirm/abc.def\n")
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.send_message(message)
        shown = catcher.stdout.readline()
        assert "to reader@example.net" in shown and "请确认订阅 LLM 论文双周摘要" in shown
        assert catcher.stdout.readline().strip() == "http://127.0.0.1:8000/confirm/abc.def"
    finally:
        catcher.send_signal(signal.SIGINT)
        rest, errors = catcher.communicate(timeout=30)
    assert catcher.returncode == 0, errors
    assert "caught 1 message(s)" in rest
    box = mailbox.Maildir(str(tmp_path / "var" / "mail"), create=False)
    assert len(box) == 1


def test_the_readmes_try_it_path_shows_the_confirmation_link_in_dev_catch(
        tmp_path: Path) -> None:
    """secret-key, `dev catch &`, `serve`, subscribe: the link arrives in the catcher."""
    smtp, web = free_port(), free_port()
    config = write_config_file(tmp_path, smtp, f"sqlite:///{tmp_path / 'p.db'}")
    key = subprocess.run([sys.executable, "-m", "publisher.cli", "secret-key"],
                         capture_output=True, text=True, timeout=60, check=True).stdout.strip()
    env = {"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1", "PUBLISHER_SECRET_KEY": key}
    program = [sys.executable, "-m", "publisher.cli", "--config", str(config)]
    catcher = subprocess.Popen([*program, "dev", "catch"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True, env=env)
    server = subprocess.Popen([*program, "serve", "--port", str(web)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        assert catcher.stdout is not None
        catcher.stdout.readline()
        wait_for_port("127.0.0.1", web)
        with web_client.Client(base_url=f"http://127.0.0.1:{web}", timeout=30) as client:
            page = client.get("/subscribe")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf is not None
            answer = client.post("/subscribe", data={
                "csrf": csrf.group(1), "email": "newcomer@example.net", "name": "New Comer"},
                headers={"Origin": f"http://127.0.0.1:{web}"})
        assert answer.status_code in (200, 303)
        shown = catcher.stdout.readline()
        assert "to newcomer@example.net" in shown
        assert "/confirm/" in catcher.stdout.readline()
    finally:
        server.terminate()
        catcher.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        catcher.communicate(timeout=30)
