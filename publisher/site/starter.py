"""A new site in an empty folder (`publisher init`): settings, an example issue, a welcome
step (off), .gitignore and deployment files, from the starter files shipped in the package.

The settings file is made from the config schema itself, so every key is in it: the ones the
author answered set, every other one commented out with its default and what it means.
Nothing that exists is ever overwritten: the whole set is refused before anything is written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from string import Template
from typing import Any

from pydantic import BaseModel

from publisher.config import Settings
from publisher.errors import PublisherError

STARTER = Path(__file__).resolve().parent / "starter"

# One line per key: what it means (the README's configuration table says more).
MEANINGS: dict[str, str] = {
    "site.title": "the newsletter's name: email subject prefix, archive and feed title",
    "site.description": "one sentence about it, for the archive and the feeds",
    "site.base_url": "the public address of the site; links and feed ids are made from it",
    "site.language": "BCP 47 tag of the site (en, zh-CN): pages, emails, dates",
    "site.languages": "the languages issues are published in, site.language among them "
                      "(unset: site.language alone); translations into en get /en/ pages, feeds",
    "site.timezone": "IANA zone the site writes dates in",
    "site.contact_line": "postal or contact line printed in every email footer",
    "site.icon": "URL of the site's icon, for the feeds",
    "sender.from_name": "the From name readers see",
    "sender.from_address": "the From address (its domain should be yours, with SPF/DKIM)",
    "sender.reply_to": "where replies go, when not the From address",
    "sender.unsubscribe_mailto": "mailbox for List-Unsubscribe mails (bounces process)",
    "smtp.host": "SMTP relay host (127.0.0.1:8025 is `publisher dev catch`)",
    "smtp.port": "SMTP relay port",
    "smtp.tls": "starttls | implicit | none",
    "smtp.pool_size": "connections kept open to the relay",
    "smtp.max_messages_per_connection": "reconnect after this many messages",
    "smtp.rate_per_second": "at most this many messages a second (0: no limit)",
    "smtp.rate_per_hour": "at most this many messages an hour (0: no limit)",
    "smtp.connect_timeout": "seconds to wait for a connection",
    "smtp.command_timeout": "seconds to wait for each SMTP reply",
    "smtp.max_attempts": "answered attempts before a reader's delivery is given up",
    "smtp.backoff_base_seconds": "first retry delay after a temporary refusal",
    "smtp.backoff_max_seconds": "longest retry delay",
    "sending.batch_size": "rows per outbox claim",
    "sending.lease_seconds": "how long a claim lasts before another process may take it",
    "sending.sender_processes": "processes that build and send (default: one per core)",
    "sending.catch_up_hours": "how late the daemon may still start a due issue",
    "sending.max_lost_claims": "dead processes holding a row before it is set aside",
    "database.url": "sqlite:///var/publisher.db, or postgresql://user@host/db",
    "database.outage_seconds": "how long a command waits out a database that is down",
    "database.webhook_retention_days": "`db prune` deletes webhook deliveries settled longer "
                                       "ago than this, and events nothing still needs",
    "paths.issues": "folder of issue files",
    "paths.output": "folder the site is built into (served to anyone)",
    "paths.templates": "your templates, overriding publisher's file by file (may not exist)",
    "paths.automations": "folder of welcome and sequence steps",
    "feeds.page_size": "entries in a feed and in each of its archive documents",
    "feeds.websub_hub": "WebSub hub URL to announce new issues to",
    "dkim.selector": "DKIM selector (publisher dkim keygen makes a key)",
    "dkim.domain": "DKIM signing domain",
    "dkim.key_path": "RSA private key file",
    "dkim.ed25519_key_path": "Ed25519 private key file (a second signature)",
    "dkim.ed25519_selector": "selector of the Ed25519 key",
    "email.max_html_bytes": "the email's HTML limit (Gmail clips larger messages)",
    "email.transfer_encoding": "8bit | quoted-printable",
    "bounces.verp": "a per-reader return path, so every bounce names its reader",
    "bounces.hard_bounce_threshold": "hard bounces before a reader is suppressed",
    "metrics.listen": "host:port for Prometheus /metrics from publisher run (empty: off)",
    "metrics.allow_remote": "allow a listen host that is not loopback",
    "admin.session_hours": "a console session ends this long after login",
    "analytics.count_on_serve": "publisher serve counts feed fetches and issue page views",
    "analytics.keep_days": "db prune sums day counters older than this into months",
    "analytics.clicks": "links in an issue's email go through /l/ and their clicks are counted",
    "analytics.prefetch_seconds": "a repeat fetch from one /24 this soon after delivery "
                                  "is a link scanner's prefetch",
    "audience.tags": "subscriber tags audiences may name besides the topics",
    "webhooks": "endpoints told about events by signed POSTs, one `[[webhooks]]` table each "
                "(see [Webhooks](webhooks.md))",
    "webhooks.url": "where events are POSTed: https (http only to a loopback address)",
    "webhooks.events": "event types this endpoint hears about (subscribed, confirmed, …)",
    "webhooks.secret_env": "environment variable holding the signing secret (two or more, "
                           "separated by spaces, while rotating)",
    "webhooks.timeout_seconds": "seconds to wait for the endpoint's reply",
    "webhooks.retry_hours": "how long a delivery is retried before it is failed",
    "webhooks.backoff_base_seconds": "first retry delay; each later one doubles",
    "webhooks.backoff_max_seconds": "longest retry delay",
    "topics": "topics readers may choose, one table per tag with a label per language "
              '(en = "…", zh = "…")',
}


@dataclass(frozen=True)
class SiteAnswers:
    """What `init` asks (or takes as defaults with --yes)."""

    title: str = "My newsletter"
    base_url: str = "http://127.0.0.1:8000"
    language: str = "en"
    from_address: str = "newsletter@example.org"
    timezone: str = "UTC"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)  # strings, numbers and lists: TOML too


def _section(name: str, model: type[BaseModel], chosen: dict[str, Any]) -> list[str]:
    lines = ["", f"[{name}]"]
    defaults = model()
    for key in model.model_fields:
        meaning = MEANINGS.get(f"{name}.{key}", "")
        if key in chosen:
            lines.append(f"{key} = {_toml(chosen[key])}  # {meaning}")
            continue
        default = getattr(defaults, key)
        shown = "" if default is None else _toml(default)
        lines.append(f"# {key} = {shown}  # {meaning}" if shown else f"# {key} =   # {meaning}")
    return lines


def config_text(answers: SiteAnswers) -> str:
    """publisher.toml with every key of the schema: the answers set, the rest commented."""
    chosen: dict[str, dict[str, Any]] = {
        "site": {"title": answers.title, "base_url": answers.base_url,
                 "language": answers.language, "timezone": answers.timezone},
        "sender": {"from_name": answers.title, "from_address": answers.from_address},
        "smtp": {"host": "127.0.0.1", "port": 8025, "tls": "none"},
        "database": {"url": "sqlite:///var/publisher.db"},
    }
    lines = ["# publisher settings. Secrets never go here: they come from the environment",
             "# (PUBLISHER_SECRET_KEY, PUBLISHER_SMTP_USERNAME, PUBLISHER_SMTP_PASSWORD, ...).",
             "# Paths are relative to this file's folder. A commented key shows its default."]
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            lines.extend(_section(name, model, chosen.get(name, {})))
    lines += ["", "# Topics readers may choose when they subscribe, one table per tag:",
              "# [topics.news]", '# en = "News"']
    return "\n".join(lines) + "\n"


def starter_files(answers: SiteAnswers, folder: Path, now: datetime) -> dict[str, str]:
    """Every file of a new site by relative path (pure: nothing is written)."""
    host = answers.base_url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    values = {"title": answers.title, "language": answers.language, "host": host,
              "folder": str(folder.resolve()), "date": now.isoformat(timespec="seconds")}
    names = {"issue.md": f"issues/{now:%Y-%m-%d}-welcome.md",
             "welcome.md": "automations/welcome.md", "gitignore": ".gitignore",
             "deploy/publisher-run.service": "deploy/publisher-run.service",
             "deploy/publisher-serve.service": "deploy/publisher-serve.service",
             "deploy/nginx.conf": "deploy/nginx.conf"}
    files = {"publisher.toml": config_text(answers)}
    for source, target in names.items():
        text = (STARTER / source).read_text(encoding="utf-8")
        files[target] = Template(text).substitute(values)
    return files


def write_site(folder: Path, files: dict[str, str]) -> list[Path]:
    """Write the files into folder; refuse, before writing anything, if one exists."""
    existing = sorted(str(folder / name) for name in files if (folder / name).exists())
    if existing:
        raise PublisherError(f"{existing[0]}: already exists; init never overwrites "
                             f"({len(existing)} of its files exist in {folder})")
    written = []
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
