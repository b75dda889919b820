"""The README's first command: `publisher demo` on embedded defaults, run as a user would,
in a fresh folder holding only the repo's configuration, issues and templates."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from publisher.config import load_config
from tests import web_client
from tests.admin.helpers import log_in
from tests.cli import run_publisher, start_publisher
from tests.servers import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[1]
SITE = REPO / "tests" / "data" / "site"  # the seed site, never the author's issues/


def _fresh_site(folder: Path) -> None:
    shutil.copy(SITE / "publisher.toml", folder / "publisher.toml")
    shutil.copytree(SITE / "issues", folder / "issues")
    shutil.copytree(REPO / "templates", folder / "templates")


def test_demo_sends_the_seed_to_five_readers_and_says_how_to_open_the_console(
        tmp_path: Path) -> None:
    _fresh_site(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no secret key: a throwaway one
    done = run_publisher(None, "demo", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "(5 messages received)" in out
    assert "sent=5" in out and "failed=0" in out
    assert len(list((tmp_path / "var/demo/Maildir/new").iterdir())) == 5
    assert "throwaway key" in done.stderr
    console = [line for line in out.splitlines() if "var/demo/publisher.toml" in line]
    assert any(line.endswith("admin set-password admin") for line in console)
    assert any("serve" in line and "http://127.0.0.1:8000/admin" in line for line in console)

    # The file the hint names opens the demo's data, with the configured SMTP server.
    config = load_config(tmp_path, tmp_path / "var/demo/publisher.toml")
    assert config.database_url.endswith("var/demo/demo.db")
    assert config.settings.smtp.port == load_config(tmp_path).settings.smtp.port
    assert config.site.title == load_config(tmp_path).site.title
    assert config.issues_dir == tmp_path / "issues"  # not var/demo/issues
    assert config.templates_dir == tmp_path / "templates"
    with sqlite3.connect(tmp_path / "var/demo/demo.db") as db:
        assert db.execute("SELECT count(*) FROM subscribers").fetchone() == (5,)


def test_the_console_commands_the_demo_prints_open_its_send(tmp_path: Path) -> None:
    _fresh_site(tmp_path)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "PUBLISHER_SECRET_KEY": "demo-console-test-key-0123456789abcdef"}
    demo = run_publisher(None, "demo", env=env, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    config = Path("var/demo/publisher.toml")  # as the demo prints it, from the site's folder
    password = "a demo password long enough"
    made = run_publisher(config, "admin", "set-password", "admin", "--password-stdin",
                         env=env, stdin=password + "\n", cwd=tmp_path, timeout=60)
    assert made.returncode == 0, made.stderr
    port = free_port()
    server = start_publisher(config, "serve", "--port", str(port), env=env, cwd=tmp_path,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port("127.0.0.1", port)
        with web_client.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            assert log_in(client, "admin", password).status_code == 303
            sends = client.get("/admin/sends")
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert sends.status_code == 200
    assert "2024-06-first-half" in sends.text
