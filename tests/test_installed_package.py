"""publisher installed from its wheel, outside this repository, as `pipx install` gives it:
`publisher init` makes a site that checks, builds and sends its demo with the templates the
package carries (nothing is read from this checkout)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # builds the wheel and installs it into a fresh venv


def _run(argv: list[str], cwd: Path, env: dict[str, str] | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done


def test_the_wheel_installed_elsewhere_inits_checks_builds_and_sends_the_demo(
        tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
          str(REPO)], cwd=tmp_path)
    [wheel] = wheels.glob("publisher-*.whl")
    with zipfile.ZipFile(wheel) as archive:  # hatch_build.py compiled every catalog
        names = set(archive.namelist())
    for catalog in ("en", "zh_Hans", "de"):
        assert f"publisher/locale/{catalog}/LC_MESSAGES/messages.mo" in names, catalog
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], cwd=tmp_path, timeout=900)
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(home)}  # no repo, no key
    publisher = str(venv / "bin" / "publisher")
    where = _run([str(venv / "bin" / "python"), "-c",
                  "import publisher.templating as t; print(t.default_templates_dir())"],
                 cwd=home, env=env).stdout.strip()
    assert Path(where).is_relative_to(venv), where  # the package's, not the checkout's
    german = _run([str(venv / "bin" / "python"), "-c",
                   "from publisher.i18n import LOCALE_DIR, translator_for as t; "
                   "print((LOCALE_DIR / 'de/LC_MESSAGES/messages.mo').is_file(), "
                   "t('de-AT').gettext('Unsubscribe'))"], cwd=home, env=env).stdout
    assert german.split() == ["True", "Abbestellen"], german

    made = _run([publisher, "init", "site", "--yes"], cwd=home, env=env)
    site = home / "site"
    assert "publisher.toml" in made.stdout and not (site / "templates").exists()
    for name in ("publisher.toml", ".gitignore", "automations/welcome.md",
                 "deploy/publisher-run.service", "deploy/publisher-serve.service",
                 "deploy/nginx.conf"):
        assert (site / name).is_file(), name
    assert len(list((site / "issues").glob("*.md"))) == 1

    assert "ok " in _run([publisher, "check"], cwd=site, env=env).stdout
    _run([publisher, "build"], cwd=site, env=env)
    assert (site / "public" / "index.html").is_file()
    assert (site / "public" / "style.css").is_file() or any(site.glob("public/**/*.css"))
    demo = _run([publisher, "demo"], cwd=site, env=env)
    assert "(5 messages received)" in demo.stdout and "failed=0" in demo.stdout
    assert len(list((site / "var/demo/Maildir/new").iterdir())) == 5

    again = subprocess.run([publisher, "init", "site", "--yes"], cwd=home, env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 1 and "already exists" in again.stderr
