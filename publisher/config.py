"""Settings from publisher.toml, validated by a schema that names the bad key.

Secrets come from the environment only. This is the one module that reads the environment:
everything else gets what it needs from here (Secrets, `chromium_path`) or as a parameter.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from publisher.errors import ConfigError

CONFIG_FILE = "publisher.toml"
BCP47_TAG = re.compile(  # language, script, region, variants: en, zh-Hans, zh-CN, de-CH-1996
    r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|[0-9]{3}))?(-[A-Za-z0-9]{5,8})*$")
GMAIL_CLIP_BYTES = 102_000  # Gmail shows "[Message clipped]" past this much HTML
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
CHROMIUM = "/usr/bin/chromium"  # Debian's; PUBLISHER_CHROMIUM names another


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Section):
    title: str = "Publisher digest"
    description: str = ""
    base_url: str = "http://127.0.0.1:8000"
    language: str = "en"
    # Every language the site publishes in, the default (`language`) among them; a
    # translation's archive pages and feeds live under /<tag>/. Unset: `language` alone.
    languages: list[str] = Field(default_factory=list)
    timezone: str = "UTC"
    contact_line: str = ""
    icon: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _languages_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("languages"):
            return {**data, "languages": [data.get("language", "en")]}
        return data

    @field_validator("languages")
    @classmethod
    def _known_tags(cls, values: list[str], info: ValidationInfo) -> list[str]:
        for value in values:
            if not BCP47_TAG.match(value):
                raise ValueError(f"{value!r} is not a BCP 47 language tag (e.g. en, zh-CN)")
        if len(set(values)) != len(values):
            raise ValueError("lists a language twice")
        language = info.data.get("language")
        if language is not None and language not in values:
            raise ValueError(f"must include the site's language {language!r}")
        return values

    @field_validator("base_url")
    @classmethod
    def _absolute_http(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @property
    def domain(self) -> str:
        return self.base_url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class SenderConfig(_Section):
    from_name: str = "Publisher"
    from_address: str = "digest@example.org"
    reply_to: str | None = None
    unsubscribe_mailto: str | None = None

    @field_validator("from_name", "from_address", "reply_to", "unsubscribe_mailto")
    @classmethod
    def _no_control_chars(cls, value: str | None) -> str | None:
        if value is not None and re.search(r"[\x00-\x1f\x7f]", value):
            raise ValueError("must not contain control characters")
        return value

    @property
    def unsubscribe_address(self) -> str:
        """Where List-Unsubscribe's mailto goes: a dedicated mailbox (read by `bounces
        process`), never the From address that readers reply to."""
        domain = self.from_address.rsplit("@", 1)[-1]
        return self.unsubscribe_mailto or f"unsubscribe@{domain}"


class SmtpConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8025, ge=1, le=65535)
    # Checked even when left at its default: a remote host with the default `none` is refused.
    tls: Literal["starttls", "implicit", "none"] = Field(default="none", validate_default=True)
    pool_size: int = Field(default=4, ge=1, le=256)
    max_messages_per_connection: int = Field(default=1000, ge=1)
    rate_per_second: float = Field(default=0.0, ge=0)
    rate_per_hour: float = Field(default=0.0, ge=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    command_timeout: float = Field(default=30.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_base_seconds: float = Field(default=60.0, ge=0)
    backoff_max_seconds: float = Field(default=3600.0, ge=0)

    @field_validator("tls")
    @classmethod
    def _plain_text_only_to_loopback(cls, value: str, info: ValidationInfo) -> str:
        host = info.data.get("host")  # absent when the host itself was invalid
        if value == "none" and host is not None and host not in LOOPBACK_HOSTS:
            raise ValueError(f"'none' is only allowed for a loopback host, not {host!r}; "
                             "use starttls or implicit")
        return value


class SendingConfig(_Section):
    batch_size: int = Field(default=200, ge=1, le=10_000)
    lease_seconds: float = Field(default=600.0, gt=0)
    # Sender processes (personalise, sign, SMTP over their share of smtp.pool_size), fed
    # by the process that owns the outbox: None = one per core; 0 = send from the draining
    # process itself (building in a thread).
    sender_processes: int | None = Field(default=None, ge=0, le=64)
    # The daemon starts an issue whose send_at passed at most this long ago; older ones
    # (back issues of a migrated archive, a daemon stopped for weeks) wait for `send`.
    catch_up_hours: float = Field(default=24.0, ge=0)
    # The poison-message guard: a row lost by this many processes that stopped while
    # holding it (killed, crashed) is set aside as failed, with a reply saying so.
    max_lost_claims: int = Field(default=20, ge=1)


class DatabaseConfig(_Section):
    url: str = "sqlite:///var/publisher.db"
    # How long a send waits out a database outage (restart, failover, a held SQLite lock)
    # before it gives up with "nothing was lost, run the same command again".
    outage_seconds: float = Field(default=300.0, ge=0)
    # `publisher db prune` deletes webhook deliveries settled (delivered or failed) longer
    # ago than this, and the events none of the rest still needs; pending ones stay.
    webhook_retention_days: float = Field(default=30.0, gt=0)


class PathsConfig(_Section):
    issues: str = "issues"
    output: str = "public"
    templates: str = "templates"
    automations: str = "automations"


class FeedsConfig(_Section):
    page_size: int = Field(default=20, ge=1)
    websub_hub: str | None = None


class DkimConfig(_Section):
    selector: str | None = None
    domain: str | None = None
    key_path: str | None = None
    ed25519_key_path: str | None = None
    ed25519_selector: str | None = None


class BouncesConfig(_Section):
    verp: bool = False
    hard_bounce_threshold: int = Field(default=1, ge=1)


class EmailConfig(_Section):
    max_html_bytes: int = Field(default=GMAIL_CLIP_BYTES, ge=1000)
    # 8bit: UTF-8 bodies sent with BODY=8BITMIME (less than half the size of QP for CJK);
    # quoted-printable: 7-bit bodies, for relays that would downgrade and break DKIM.
    transfer_encoding: Literal["8bit", "quoted-printable"] = "8bit"


class AnalyticsConfig(_Section):
    # `publisher serve` counts the feed fetches and issue page views it answers; off when
    # another server's access log is ingested instead, so nothing is counted twice.
    count_on_serve: bool = True
    # `publisher db prune` sums the day counters older than this into one row per month.
    keep_days: int = Field(default=90, ge=1)
    # Links in an issue's email go through <base_url>/l/<token> and `serve` counts their
    # clicks, per send, link and day (never who clicked). Off: the links are the issue's own.
    clicks: bool = False
    # A click this soon after a delivery of its send was recorded sent, on a link already
    # fetched from the same /24 (IPv6: /48) network, is a link scanner's prefetch.
    prefetch_seconds: int = Field(default=60, ge=0, le=3600)


class AdminConfig(_Section):
    # A console session ends this long after login, whatever the activity (absolute).
    session_hours: float = Field(default=12.0, gt=0, le=24 * 30)


def metrics_address(listen: str, allow_remote: bool) -> tuple[str, int]:
    """`host:port` (`[::1]:9464` for IPv6) -> (host, port); a host other than loopback only
    with `allow_remote`. Raises ValueError saying what is wrong."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([^:\[\]]*):(\d{1,5})", listen)
    if not match or not 0 < int(match[2] or match[4]) < 65536:
        raise ValueError(f"{listen!r} is not host:port (like 127.0.0.1:9464)")
    host, port = match[1] or match[3], int(match[2] or match[4])
    if not allow_remote and not _is_loopback(host):
        raise ValueError(f"{host or 'every interface'} is not a loopback address; /metrics "
                         "tells anyone who can reach it how much mail goes where: set "
                         "[metrics] allow_remote = true to serve it beyond this machine")
    return host, port


def _is_loopback(host: str) -> bool:
    try:
        return host in LOOPBACK_HOSTS or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a name other than localhost
        return False


class MetricsConfig(_Section):
    # Declared before `listen`, whose check reads it.
    allow_remote: bool = False
    # host:port where `publisher run` serves Prometheus /metrics; empty: no server.
    listen: str = ""

    @field_validator("listen")
    @classmethod
    def _loopback_unless_allowed(cls, value: str, info: ValidationInfo) -> str:
        if value:
            metrics_address(value, bool(info.data.get("allow_remote")))
        return value


# What a webhook may ask for (publisher.events writes them), in the manual's order.
WEBHOOK_EVENTS = ("subscribed", "confirmed", "unsubscribed", "bounced", "complained", "erased",
                  "send_started", "send_finished", "send_paused", "send_cancelled")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class WebhookConfig(_Section):
    url: str
    events: list[str] = Field(min_length=1)
    secret_env: str
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    retry_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    backoff_base_seconds: float = Field(default=30.0, gt=0, le=3600)
    backoff_max_seconds: float = Field(default=3600.0, gt=0, le=24 * 3600)

    @field_validator("url")
    @classmethod
    def _https_or_loopback(cls, value: str) -> str:
        match = re.match(r"^(https?)://(\[[^\]]+\]|[^\s/:?#]+)", value)
        if not match:
            raise ValueError("must be an absolute https URL")
        if match[1] == "http" and not _is_loopback(match[2].strip("[]")):
            raise ValueError("must be https (http only to a loopback address)")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, values: list[str]) -> list[str]:
        unknown = [v for v in values if v not in WEBHOOK_EVENTS]
        if unknown:
            raise ValueError(f"unknown event type {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(WEBHOOK_EVENTS)}")
        return sorted(set(values), key=WEBHOOK_EVENTS.index)

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not ENV_NAME.match(value):
            raise ValueError("must name an environment variable (letters, digits, _)")
        return value


def webhook_secrets(webhook: WebhookConfig, environ: Mapping[str, str] | None = None,
                    ) -> tuple[str, ...]:
    """The signing secrets of a webhook: its variable's words (two or more while rotating);
    ConfigError when the variable is unset or empty."""
    value = (os.environ if environ is None else environ).get(webhook.secret_env, "")
    secrets = tuple(value.split())
    if not secrets:
        raise ConfigError(f"{webhook.secret_env} is not set: it holds the signing secret of "
                          f"the webhook to {webhook.url}")
    return secrets


TAG_NAME = re.compile(r"^[^\s()]+$")
AUDIENCE_WORDS = frozenset({"and", "or", "not"})
LANGUAGE_TERM = "lang:"  # `lang:en` in an audience names a language, never a tag


def tag_name(tag: str) -> str:
    """The tag, if an audience expression can name it; else ValueError saying why."""
    if not TAG_NAME.match(tag) or tag.lower() in AUDIENCE_WORDS:
        raise ValueError(f"{tag!r}: a tag is one word without spaces or parentheses, "
                         "and not and/or/not")
    if tag.lower().startswith(LANGUAGE_TERM):
        raise ValueError(f"{tag!r}: a tag cannot start with {LANGUAGE_TERM!r}, which names "
                         "a language in an audience (lang:en)")
    return tag


class AudienceConfig(_Section):
    # Subscriber tags an issue's `audience` may name besides the topics (imports, internal).
    tags: list[str] = Field(default_factory=list)

    @field_validator("tags")
    @classmethod
    def _names(cls, values: list[str]) -> list[str]:
        return [tag_name(v) for v in values]


class Settings(_Section):
    site: SiteConfig = SiteConfig()
    sender: SenderConfig = SenderConfig()
    smtp: SmtpConfig = SmtpConfig()
    sending: SendingConfig = SendingConfig()
    database: DatabaseConfig = DatabaseConfig()
    paths: PathsConfig = PathsConfig()
    feeds: FeedsConfig = FeedsConfig()
    dkim: DkimConfig = DkimConfig()
    email: EmailConfig = EmailConfig()
    bounces: BouncesConfig = BouncesConfig()
    metrics: MetricsConfig = MetricsConfig()
    admin: AdminConfig = AdminConfig()
    analytics: AnalyticsConfig = AnalyticsConfig()
    # Topics readers may choose: [topics.<tag>] with a label per language (en = "…", zh = "…").
    topics: dict[str, dict[str, str]] = Field(default_factory=dict)
    audience: AudienceConfig = AudienceConfig()
    # [[webhooks]]: endpoints that hear about events, each a table of its own.
    webhooks: list[WebhookConfig] = Field(default_factory=list)

    @field_validator("topics")
    @classmethod
    def _topics(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for tag, labels in value.items():
            tag_name(tag)
            if not labels or not all(label.strip() for label in labels.values()):
                raise ValueError(f"topics.{tag}: give a label per language, e.g. en = \"…\"")
        return value


@dataclass(frozen=True)
class Config:
    """Validated settings plus the directory they are relative to."""

    settings: Settings
    root: Path
    file: Path | None = None  # the publisher.toml it came from (None: defaults only)

    @property
    def site(self) -> SiteConfig:
        return self.settings.site

    def missing_folder(self, key: str) -> str:
        """Why the folder of `paths.<key>` is not there, saying where relative paths start."""
        value = getattr(self.settings.paths, key)
        folder = self.path(value)
        source = f" in {self.file}" if self.file else " (the default)"
        return (f"{folder}: no such folder (paths.{key} = {json.dumps(value)}{source}; paths "
                f"are relative to the config file's folder, {self.root})")

    def path(self, relative: str) -> Path:
        candidate = Path(relative)
        return candidate if candidate.is_absolute() else self.root / candidate

    @property
    def issues_dir(self) -> Path:
        return self.path(self.settings.paths.issues)

    @property
    def output_dir(self) -> Path:
        return self.path(self.settings.paths.output)

    @property
    def automations_dir(self) -> Path:
        return self.path(self.settings.paths.automations)

    @property
    def known_tags(self) -> frozenset[str]:
        """Tags an audience may name: the topics readers choose and [audience] tags."""
        return frozenset(self.settings.topics) | frozenset(self.settings.audience.tags)

    @property
    def templates_dir(self) -> Path:
        return self.path(self.settings.paths.templates)

    @property
    def webhook_endpoints(self) -> list[tuple[str, list[str]]]:
        """Each `[[webhooks]]` table's url and event types."""
        return [(w.url, w.events) for w in self.settings.webhooks]

    @property
    def database_url(self) -> str:
        url = self.settings.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(self.root / url[len(prefix):])
        return url


# One line for every command that cannot work without the key: what is missing, how to make it.
MISSING_SECRET_KEY = (
    "PUBLISHER_SECRET_KEY is not set: tokens and console cookies are signed with it. "
    "Make one with `publisher secret-key`, then `export PUBLISHER_SECRET_KEY=<that key>`"
)


@dataclass(frozen=True)
class Secrets:
    """Everything secret, read from the environment only."""

    secret_keys: tuple[str, ...] = field(default=())
    smtp_username: str | None = None
    smtp_password: str | None = None
    dkim_private_key: str | None = None
    imap_password: str | None = None  # for `bounces process imaps://…`

    def require_signing_key(self) -> None:
        """Refuse (one line naming the variable and how to make it) when no key is set."""
        if not self.secret_keys:
            raise ConfigError(MISSING_SECRET_KEY)

    @property
    def signing_key(self) -> str:
        self.require_signing_key()
        return self.secret_keys[0]


def load_secrets(environ: Mapping[str, str]) -> Secrets:
    """Read secrets from an environment mapping (the current key first, then old keys)."""
    keys: list[str] = []
    current = environ.get("PUBLISHER_SECRET_KEY", "").strip()
    if current:
        if len(current) < 16:
            raise ConfigError("PUBLISHER_SECRET_KEY: must be at least 16 characters")
        keys.append(current)
    old = environ.get("PUBLISHER_OLD_SECRET_KEYS", "")
    keys.extend(k.strip() for k in old.split(",") if k.strip())
    return Secrets(
        secret_keys=tuple(keys),
        smtp_username=environ.get("PUBLISHER_SMTP_USERNAME") or None,
        smtp_password=environ.get("PUBLISHER_SMTP_PASSWORD") or None,
        dkim_private_key=environ.get("PUBLISHER_DKIM_PRIVATE_KEY") or None,
        imap_password=environ.get("PUBLISHER_IMAP_PASSWORD") or None,
    )


def chromium_path() -> str:
    """The Chromium binary that screenshots drive: PUBLISHER_CHROMIUM, else Debian's."""
    return os.environ.get("PUBLISHER_CHROMIUM", CHROMIUM)


def line_of_key(text: str, section: str | None, key: str) -> int | None:
    current: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        header = re.match(r"^\[([^\]]+)\]", line)
        if header:
            current = header.group(1).strip()
            if section is not None and current == section and key == section:
                return number
            continue
        if current == section and re.match(rf"^{re.escape(key)}\s*=", line):
            return number
    return None


def line_of_table_item(text: str, name: str, index: int, key: str | None) -> int | None:
    """The line of `key` in the index-th `[[name]]` table (from 0), or of that table's
    header when the key is not in it (a missing key, or an error about the whole table)."""
    header_line: int | None = None
    seen = -1
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("["):
            if header_line is not None:
                return header_line  # the table ended without the key
            table = re.match(r"^\[\[\s*([^\]]+?)\s*\]\]", line)
            if table and table.group(1) == name:
                seen += 1
                header_line = number if seen == index else None
            continue
        if header_line is not None and key and re.match(rf"^{re.escape(key)}\s*=", line):
            return number
    return header_line


def error_line(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The line a validation error's location points at: `section.key`, the section's
    header for a key left at an invalid default, or the key (or header) of the N-th
    `[[section]]` table for `section.N.key`."""
    if len(loc) > 1 and isinstance(loc[1], int):
        return line_of_table_item(text, str(loc[0]), loc[1],
                                  str(loc[2]) if len(loc) > 2 else None)
    section = str(loc[0]) if len(loc) > 1 else None
    key = str(loc[1]) if len(loc) > 1 else str(loc[0])
    # A key left at a default that is invalid (smtp.tls beside a remote host) is not in
    # the file: point at its section's header instead.
    return line_of_key(text, section, key) or (
        line_of_key(text, section, section) if section else None)


def parse_settings(text: str, source: str = CONFIG_FILE) -> Settings:
    """Parse TOML text into Settings; errors name the file, line and dotted key."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            loc = [str(part) for part in error["loc"]]
            line = error_line(text, tuple(error["loc"]))
            where = f"{source}:{line}" if line else source
            message = error["msg"]
            if error["type"] == "extra_forbidden":
                message = "unknown key"
            messages.append(f"{where}: {'.'.join(loc)}: {message}")
        raise ConfigError("\n".join(messages)) from exc


def load_config(root: Path | None = None, config_file: Path | None = None) -> Config:
    """Load publisher.toml from root (defaults apply when there is no file)."""
    base = (root or Path.cwd()).resolve()
    path = config_file or base / CONFIG_FILE
    if path.exists():
        settings = parse_settings(path.read_text(encoding="utf-8"), str(path))
        base = path.resolve().parent
    elif config_file is not None:
        raise ConfigError(f"{path}: config file not found")
    else:
        settings = Settings()
    return Config(settings=settings, root=base, file=path if path.exists() else None)
