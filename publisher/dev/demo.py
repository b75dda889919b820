"""The main job on embedded defaults: build the seed edition (in a site of its own, made by
`publisher init`, its newest published issue), add demo subscribers to SQLite, send through
an in-process SMTP catcher on loopback, and say where everything is."""

from __future__ import annotations

import json
import secrets as secrets_module
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from publisher import urls
from publisher.clock import utc_now
from publisher.config import Config, Secrets, load_secrets
from publisher.content.issues import read_issues
from publisher.db import open_database
from publisher.dev.catcher import Catcher
from publisher.sending.drain import DrainOptions
from publisher.sending.send_issue import ready, resolve_issue_path, run_send, start
from publisher.site.build import build_site, email_paths
from publisher.subscribers import store
from publisher.subscribers.store import Consent

SEED = "2024-06-first-half"
DEMO_SUBSCRIBERS = [
    ("reader@example.com", "Demo Reader"),
    ("zhang.san@example.cn", "张三"),
    ("li.si@example.cn", "李四"),
    ("ada@example.org", "Ada Lovelace"),
    ("grace@example.org", ""),
]


@dataclass(frozen=True)
class DemoResult:
    output_dir: Path
    email_html: Path
    email_text: Path
    feeds: list[Path]
    maildir: Path
    received: int
    counts: dict[str, int]
    ephemeral_secret: bool
    config_file: Path  # the demo's settings, for the console and other commands on its data


def demo_secrets(environ: Mapping[str, str]) -> tuple[Secrets, bool]:
    """The environment's secrets; the demo alone may fall back to a throwaway key."""
    loaded = load_secrets(environ)
    if loaded.secret_keys:
        return loaded, False
    return replace(loaded, secret_keys=(secrets_module.token_urlsafe(32),)), True


def settings_toml(config: Config) -> str:
    """The settings as a publisher.toml: a table per section, a sub-table per nested map
    (`[topics.llm]`); scalars and lists as JSON literals, which are TOML ones too."""
    lines = ["# Written by `publisher demo`: its settings, with the demo's own database."]

    def table(name: str, values: dict[str, Any]) -> None:
        lines.extend(["", f"[{name}]"])
        lines.extend(f"{key} = {json.dumps(value, ensure_ascii=False)}"
                     for key, value in values.items() if not isinstance(value, dict))
        for key, value in values.items():
            if isinstance(value, dict):
                table(f"{name}.{json.dumps(key, ensure_ascii=False)}", value)

    for section, values in config.settings.model_dump(mode="json", exclude_none=True).items():
        if isinstance(values, list):  # an array of tables: `[[webhooks]]`
            for item in values:
                lines.extend(["", f"[[{section}]]"])
                lines.extend(f"{key} = {json.dumps(value, ensure_ascii=False)}"
                             for key, value in item.items())
        else:
            table(section, values)
    return "\n".join(lines) + "\n"


def anchored(config: Config) -> Config:
    """The same settings with every relative path made absolute: a config file's paths are
    relative to its own folder, and the demo's file lives in var/demo/."""
    settings = config.settings
    paths = settings.paths.model_copy(update={
        name: str(config.path(value)) for name, value in settings.paths.model_dump().items()})
    dkim = settings.dkim.model_copy(update={
        name: str(config.path(value)) for name in ("key_path", "ed25519_key_path")
        if (value := getattr(settings.dkim, name))})
    return replace(config, settings=settings.model_copy(update={"paths": paths, "dkim": dkim}))


def demo_issue(config: Config, now: datetime) -> str:
    """The issue the demo sends: the seed edition where it is, else the newest published one."""
    issues, _problems, _failed = read_issues([config.issues_dir])
    published = [issue for issue in issues if issue.is_published(now)]
    if any(issue.slug == SEED for issue in published) or not published:
        return SEED
    return published[-1].slug


def run_demo(config: Config, environ: Mapping[str, str], now: datetime | None = None) -> DemoResult:
    moment = now or utc_now()
    workdir = config.path("var/demo")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    build_site(config, moment)
    slug = demo_issue(config, moment)
    secrets, ephemeral = demo_secrets(environ)
    maildir = workdir / "Maildir"
    with Catcher(maildir) as catcher:
        smtp = config.settings.smtp.model_copy(update={"host": "127.0.0.1", "port": catcher.port,
                                                       "tls": "none"})
        database = config.settings.database.model_copy(
            update={"url": f"sqlite:///{workdir / 'demo.db'}"})
        demo = replace(config, settings=config.settings.model_copy(
            update={"smtp": smtp, "database": database}))
        engine = open_database(demo.database_url)
        with engine.begin() as conn:
            for email, name in DEMO_SUBSCRIBERS:
                store.add(conn, email, name, store.CONFIRMED,
                                Consent("demo", moment), moment)
        item = ready(demo, resolve_issue_path(demo, slug))
        send_id = start(engine, demo, item, moment)
        counts = run_send(engine, demo, secrets, send_id, utc_now, DrainOptions())
        received = len(catcher.messages())
    config_file = workdir / "publisher.toml"
    # The demo's data with the configured SMTP server (the catcher is gone once we return).
    kept = replace(config, settings=config.settings.model_copy(update={"database": database}))
    config_file.write_text(settings_toml(anchored(kept)), encoding="utf-8")
    html, text = email_paths(config.output_dir, slug)
    feeds = [config.output_dir / name for name in urls.FEED_FILES.values()]
    return DemoResult(config.output_dir, html, text, feeds, maildir, received, counts, ephemeral,
                      config_file)
