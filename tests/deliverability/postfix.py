"""A private Postfix instance on a loopback port, delivering example.net into one Maildir.

Started with `postfix -c <its own config dir> start` and stopped after the test; nothing
outside its temp directory is read or changed, and it relays nowhere.
"""

from __future__ import annotations

import mailbox
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.servers import server_binary

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
local unix - n n - - local
virtual unix - n n - - virtual
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""
MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/spool
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.net
mydomain = example.net
mydestination =
mynetworks = 127.0.0.0/8
relayhost =
virtual_mailbox_domains = example.net
virtual_mailbox_base = {root}/mail
virtual_mailbox_maps = static:inbox/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
alias_maps =
alias_database =
smtpd_relay_restrictions = permit_mynetworks, reject
default_transport = error:no outside delivery in tests
relay_transport = error:no outside delivery in tests
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
message_size_limit = 20480000
smtputf8_enable = no
"""


class Postfix:
    """Context manager: a real Postfix accepting mail for example.net on `port`."""

    def __init__(self, port: int) -> None:
        self.port = port
        # Not under pytest's tmp_path: Postfix's unprivileged daemons must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="publisher-postfix-"))
        self.root.chmod(0o755)
        self.etc = self.root / "etc"

    def _write_config(self) -> None:
        for name in ("etc", "spool", "data", "mail"):
            (self.root / name).mkdir()
        (self.etc / "master.cf").write_text(MASTER_CF.format(port=self.port))
        (self.etc / "main.cf").write_text(MAIN_CF.format(root=self.root))
        shutil.chown(self.root / "data", "postfix")
        shutil.chown(self.root / "mail", "nobody", "nogroup")

    def __enter__(self) -> Postfix:
        self._write_config()
        started = subprocess.run([server_binary("postfix", "postfix"), "-c", str(self.etc),
                                  "start"], capture_output=True, text=True)
        if started.returncode != 0:
            raise RuntimeError(f"postfix did not start: {started.stderr}\n{self.log()}")
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run([server_binary("postfix", "postfix"), "-c", str(self.etc), "stop"],
                       capture_output=True)
        time.sleep(0.2)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace") if path.exists() else ""

    def delivered(self, expected: int, timeout: float = 30.0) -> list[bytes]:
        """Wait until `expected` messages are in the Maildir; return their bytes."""
        inbox = self.root / "mail" / "inbox"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (inbox / "new").is_dir():
                box = mailbox.Maildir(str(inbox), create=False)
                if len(box) >= expected:
                    return [box.get_bytes(key) for key in sorted(box.keys())]
            time.sleep(0.2)
        raise AssertionError(f"Postfix delivered fewer than {expected} messages:\n{self.log()}")
