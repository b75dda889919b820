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
        "subscribe_heading": "Get it by email",
        "email_label": "Email address",
        "name_label": "Name (optional)",
        "honeypot_label": "Leave this field empty",
        "subscribe_button": "Subscribe",
        "subscribe_note": "We send a confirmation link first. Unsubscribe in one click.",
        "issues": "Issues",
        "tags": "Tags",
        "tagged": "Issues tagged",
        "feeds_label": "Feeds",
        "all_issues": "All issues",
        "skip": "Skip to content",
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
        "subscribe_heading": "通过邮件订阅",
        "email_label": "邮箱地址",
        "name_label": "称呼(可选)",
        "honeypot_label": "请勿填写此栏",
        "subscribe_button": "订阅",
        "subscribe_note": "我们会先发送一封确认邮件。退订只需一次点击。",
        "issues": "往期",
        "tags": "标签",
        "tagged": "标签",
        "feeds_label": "订阅源",
        "all_issues": "全部往期",
        "skip": "跳到正文",
    },
}


def strings_for(language: str) -> Mapping[str, str]:
    """Strings for a BCP 47 tag, falling back from zh-CN to zh to en."""
    primary = language.split("-", 1)[0].lower()
    return STRINGS.get(language, STRINGS.get(primary, STRINGS["en"]))
