"""`publisher check --deliverability`: what can be verified without the network."""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

from publisher.config import Config, Secrets
from publisher.errors import ConfigError
from publisher.mail.dkim_signing import keys_from_config
from publisher.mail.render import RenderedEmail
from publisher.mail.smtp import LOOPBACK

GMAIL_CLIP_BYTES = 102_000
MIN_TEXT_COVERAGE = 0.9


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str


def _aligned(from_domain: str, dkim_domain: str) -> bool:
    """Relaxed DMARC alignment: the same domain, or one a subdomain of the other."""
    a, b = from_domain.lower(), dkim_domain.lower()
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def dkim_findings(config: Config, secrets: Secrets) -> list[Finding]:
    settings = config.settings.dkim
    from_domain = config.settings.sender.from_address.rsplit("@", 1)[1]
    if not settings.selector or not settings.domain:
        return [Finding("dkim", False, "dkim.selector and dkim.domain are not set")]
    try:
        keys = keys_from_config(config, secrets)
    except ConfigError as exc:
        return [Finding("dkim", False, str(exc))]
    if not keys:
        return [Finding("dkim", False, "no key: set dkim.key_path or PUBLISHER_DKIM_PRIVATE_KEY")]
    findings = [Finding("dkim", True, f"{k.algorithm.decode()} key for "
                        f"{k.selector}._domainkey.{k.domain}; publish: {k.zone_line()}")
                for k in keys]
    findings.append(Finding("alignment", _aligned(from_domain, settings.domain),
                            f"From domain {from_domain} vs DKIM d={settings.domain}"))
    return findings


def url_findings(config: Config) -> list[Finding]:
    base = config.site.base_url
    host = base.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
    secure = base.startswith("https://") or host in LOOPBACK
    detail = (f"unsubscribe links use {base}"
              + ("" if base.startswith("https://") else " (plain http: only for local testing)"))
    return [Finding("https-unsubscribe", secure, detail)]


def _visible_text_tokens(html: str) -> set[str]:
    body = re.sub(r"(?is)<(style|head|title)[^>]*>.*?</\1>", " ", html)
    body = re.sub(r"(?s)<!--.*?-->", " ", body)
    return _tokens(html_lib.unescape(re.sub(r"<[^>]+>", " ", body)))


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9]{2,}|[\u4e00-\u9fff]", text))


def email_findings(slug: str, rendered: RenderedEmail) -> list[Finding]:
    size_ok = rendered.html_bytes < GMAIL_CLIP_BYTES
    html_tokens = _visible_text_tokens(rendered.html)
    text_tokens = _tokens(rendered.text)
    coverage = len(html_tokens & text_tokens) / max(1, len(html_tokens))
    return [
        Finding(f"{slug}: html size", size_ok,
                f"{rendered.html_bytes:,} bytes (Gmail clips at {GMAIL_CLIP_BYTES:,})"),
        Finding(f"{slug}: text part", bool(rendered.text.strip()) and
                coverage >= MIN_TEXT_COVERAGE,
                f"{coverage:.0%} of the HTML's words are in the text part"),
    ]
