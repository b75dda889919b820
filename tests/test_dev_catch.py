"""`publisher dev catch`: the local catcher a newcomer runs beside `serve` to see the mails
publisher sends, each shown (recipient, subject, links) as it arrives and kept in a Maildir."""

from __future__ import annotations

import mailbox
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

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
