"""The few fixed strings of email and pages, in the languages issues are written in."""

from __future__ import annotations

from collections.abc import Mapping

STRINGS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "view_in_browser": "View in your browser",
        "by": "By",
        "source": "Source",
        "why": "You are receiving this because {email} subscribed to {site}.",
        "unsubscribe": "Unsubscribe",
        "preferences": "Preferences",
        "feed": "Follow by feed",
        "links": "Links",
        "date_format": "%B %-d, %Y",
    },
    "zh": {
        "view_in_browser": "在浏览器中查看",
        "by": "作者:",
        "source": "原文",
        "why": "你收到这封邮件,是因为 {email} 订阅了《{site}》。",
        "unsubscribe": "退订",
        "preferences": "订阅设置",
        "feed": "通过 RSS 订阅",
        "links": "链接",
        "date_format": "%Y年%-m月%-d日",
    },
}


def strings_for(language: str) -> Mapping[str, str]:
    """Strings for a BCP 47 tag, falling back from zh-CN to zh to en."""
    primary = language.split("-", 1)[0].lower()
    return STRINGS.get(language, STRINGS.get(primary, STRINGS["en"]))
