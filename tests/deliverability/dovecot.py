"""A private Dovecot IMAP server on a loopback port, TLS only, with a test CA.

Started in the foreground with its own config file, stopped after the test; it reads and
writes nothing outside its temp directory. One user, `bounces`, whose INBOX is a Maildir.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.certificates import write_certificates
from tests.servers import server_binary

PASSWORD = "bounce-mailbox-password"  # a throwaway password for a loopback test server
CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = required
ssl_min_protocol = TLSv1.2
ssl_cert = <{root}/server.pem
ssl_key = <{root}/server.key
auth_mechanisms = plain
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/home/%u
}}
mail_location = maildir:{root}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
"""


class Dovecot:
    """Context manager: IMAPS on 127.0.0.1:port; `inbox` is user `bounces`' Maildir."""

    def __init__(self, port: int) -> None:
        self.port = port
        # Not under pytest's tmp_path: the mail processes run as nobody and must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="publisher-dovecot-"))
        self.root.chmod(0o755)
        self.inbox = self.root / "mail" / "bounces"
        self.ca_file = write_certificates(self.root)
        self.process: subprocess.Popen[bytes] | None = None

    def give_mail_to_its_user(self) -> None:
        """Files written by the test become the mail user's, as delivered mail would be."""
        for path in [self.root / "mail", *(self.root / "mail").rglob("*")]:
            shutil.chown(path, "nobody", "nogroup")

    def __enter__(self) -> Dovecot:
        (self.root / "mail").mkdir()
        (self.root / "home").mkdir()
        config = self.root / "dovecot.conf"
        config.write_text(CONFIG.format(root=self.root, port=self.port, password=PASSWORD))
        dovecot = server_binary("postfix", "dovecot")
        self.process = subprocess.Popen([dovecot, "-F", "-c", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"dovecot did not start:\n{self.log()}")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "dovecot.log"
        stderr = self.process.stderr.read().decode() if self.process and self.process.stderr \
            and self.process.poll() is not None else ""
        return (path.read_text(errors="replace") if path.exists() else "") + stderr
