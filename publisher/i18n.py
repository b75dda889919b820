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
        "check_inbox_title": "Check your inbox",
        "check_inbox": "If the address can receive mail, a confirmation link is on its way. "
                       "Open it to start receiving the digest.",
        "confirm_title": "Confirm your subscription",
        "confirm_text": "Press the button to confirm that {email} wants to receive {site}.",
        "confirm_button": "Confirm subscription",
        "confirmed_title": "Subscription confirmed",
        "confirmed_text": "Thank you. {email} will receive the next issue of {site}.",
        "unsubscribe_title": "Unsubscribe",
        "unsubscribe_text": "Press the button to stop emails from {site} to {email}.",
        "unsubscribe_button": "Unsubscribe",
        "unsubscribed_title": "Unsubscribed",
        "unsubscribed_text": "{email} will not receive {site} any more.",
        "preferences_title": "Subscription preferences",
        "preferences_status": "Status of {email}: {status}.",
        "resubscribe_button": "Subscribe again",
        "bad_link_title": "This link does not work",
        "bad_link": "The link is invalid or has expired. Subscribe again from the archive.",
        "invalid_title": "Please check the address",
        "too_many_title": "Too many requests",
        "too_many": "Too many attempts from here. Please wait a few minutes and try again.",
        "forbidden_title": "Request refused",
        "forbidden": "This form must be sent from the site itself. Reload the page and retry.",
        "invalid_name_title": "Please check the name",
        "problem_email_required": "Email address: please enter one.",
        "problem_email_control": "Email address: it contains control or invisible characters; "
                                 "please type it again.",
        "problem_email_too_long": "Email address: it is too long (254 characters at most).",
        "problem_email_fullwidth_at": "Email address: the @ is a full-width character (＠); "
                                      "please type a regular @.",
        "problem_email_no_at": "Email address: the @ is missing.",
        "problem_email_non_ascii_local": "Email address: it uses non-Latin characters before "
                                         "the @, which our mail server cannot deliver yet. "
                                         "Please use an address with only Latin letters, "
                                         "digits and symbols before the @.",
        "problem_email_double_dot": "Email address: it has two dots in a row (..).",
        "problem_email_local": "Email address: the part before the @ is not valid; check for "
                               "a typo or a stray character.",
        "problem_email_domain": "Email address: the part after the @ is not a valid domain "
                                "(like example.com); check for a typo.",
        "problem_email_syntax": "Email address: this does not look like a valid address; "
                                "check for a typo.",
        "problem_name_control": "Name: it contains control or invisible characters.",
        "problem_name_too_long": "Name: it is too long (100 characters at most).",
        "problem_name_link": "Name: it must not contain an email address or a link.",
        "problem_name_mixed_scripts": "Name: it mixes letters of different alphabets (such as "
                                      "Latin and Cyrillic), a trick used to impersonate "
                                      "others. Please write it in one alphabet.",
        "confirm_again_text": "{email} is not subscribed to {site} now ({status}). Press the "
                              "button to subscribe again.",
        "confirm_expired_title": "This confirmation link has expired",
        "confirm_expired": "Confirmation links work for 7 days. Subscribe again and we will "
                           "send you a new one.",
        "confirm_expired_left": "{email} is not subscribed to {site} now ({status}), and this "
                                "confirmation link has expired (links work for 7 days). To "
                                "come back, subscribe again and confirm the new mail.",
        "come_back": "Changed your mind? Subscribe again",
        "subscribe_again_link": "Subscribe again",
        "preferences_saved": "Your change is saved.",
        "not_found_title": "Page not found",
        "not_found": "There is no page at this address. It may have moved, or the link may be "
                     "mistyped.",
        "method_not_allowed_title": "This request is not possible here",
        "method_not_allowed": "This address does not accept that kind of request.",
        "home_link": "Go to the home page",
        "unsubscribed_gone": "This address is no longer on the list of {site}: no more email "
                             "will be sent to it.",
        "unavailable_title": "Temporarily unavailable",
        "unavailable": "We cannot save anything right now. Nothing was changed: please try "
                       "again in a minute.",
        "confirm_mail_subject": "Confirm your subscription to {site}",
        "confirm_mail_body": "Someone (hopefully you) asked to receive {site} at {email}.\n\n"
                             "Confirm with this link (valid for 7 days):\n{url}\n\n"
                             "If it was not you, ignore this message: nothing will be sent.",
        "status_pending": "waiting for confirmation",
        "status_confirmed": "subscribed",
        "status_unsubscribed": "unsubscribed",
        "status_bounced": "paused after bounces",
        "status_complained": "unsubscribed after a spam report",
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
        "check_inbox_title": "请查收邮件",
        "check_inbox": "如果这个地址可以收信,确认链接已经发出。打开它即可开始接收摘要。",
        "confirm_title": "确认订阅",
        "confirm_text": "点击下面的按钮,确认 {email} 订阅《{site}》。",
        "confirm_button": "确认订阅",
        "confirmed_title": "订阅成功",
        "confirmed_text": "谢谢!{email} 将收到下一期《{site}》。",
        "unsubscribe_title": "退订",
        "unsubscribe_text": "点击下面的按钮,{email} 将不再收到《{site}》。",
        "unsubscribe_button": "退订",
        "unsubscribed_title": "已退订",
        "unsubscribed_text": "{email} 将不再收到《{site}》。",
        "preferences_title": "订阅设置",
        "preferences_status": "{email} 的状态:{status}。",
        "resubscribe_button": "重新订阅",
        "bad_link_title": "链接无效",
        "bad_link": "链接无效或已过期。请从往期页面重新订阅。",
        "invalid_title": "请检查邮箱地址",
        "too_many_title": "请求过多",
        "too_many": "来自这里的尝试太多了。请稍等几分钟再试。",
        "forbidden_title": "请求被拒绝",
        "forbidden": "请从本站页面提交表单。刷新页面后再试。",
        "invalid_name_title": "请检查称呼",
        "problem_email_required": "邮箱地址：请填写。",
        "problem_email_control": "邮箱地址：含有控制字符或不可见字符，请重新输入。",
        "problem_email_too_long": "邮箱地址：太长了（最多 254 个字符）。",
        "problem_email_fullwidth_at": "邮箱地址：其中的 @ 是全角字符（＠），请改成半角的 @。",
        "problem_email_no_at": "邮箱地址：缺少 @。",
        "problem_email_non_ascii_local": "邮箱地址：@ 前面用了非拉丁字符，我们的邮件服务器"
                                         "暂时还无法投递到这样的地址。请换一个 @ 前只有英文"
                                         "字母、数字和符号的地址。",
        "problem_email_double_dot": "邮箱地址：有两个连续的句点（..）。",
        "problem_email_local": "邮箱地址：@ 前面的部分无效，请检查是否有错字或多余的符号。",
        "problem_email_domain": "邮箱地址：@ 后面不是有效的域名（例如 example.com），"
                                "请检查拼写。",
        "problem_email_syntax": "邮箱地址：看起来不是有效的地址，请检查是否有错字。",
        "problem_name_control": "称呼：含有控制字符或不可见字符。",
        "problem_name_too_long": "称呼：太长了（最多 100 个字符）。",
        "problem_name_link": "称呼：不能包含邮箱地址或网址。",
        "problem_name_mixed_scripts": "称呼：混用了不同文字的字母（例如拉丁字母和西里尔字母），"
                                      "这种写法常被用来冒充他人。请只用一种文字书写。",
        "confirm_again_text": "{email} 现在没有订阅《{site}》（{status}）。点击下面的按钮即可"
                              "重新订阅。",
        "confirm_expired_title": "确认链接已过期",
        "confirm_expired": "确认链接 7 天内有效。请重新订阅，我们会再发一封确认邮件。",
        "confirm_expired_left": "{email} 现在没有订阅《{site}》（{status}），而这个确认链接已经"
                                "过期（7 天内有效）。想回来的话，请重新订阅并确认新的邮件。",
        "come_back": "改变主意了？重新订阅",
        "subscribe_again_link": "重新订阅",
        "preferences_saved": "更改已保存。",
        "not_found_title": "找不到这个页面",
        "not_found": "这个地址没有页面。它可能已被移走，也可能是链接输错了。",
        "method_not_allowed_title": "无法处理这个请求",
        "method_not_allowed": "这个地址不接受这种请求。",
        "home_link": "返回首页",
        "unsubscribed_gone": "该邮箱已不在《{site}》的订阅名单中，不会再收到任何邮件。",
        "unavailable_title": "暂时无法处理",
        "unavailable": "现在无法保存任何内容，也没有做任何更改。请一分钟后再试。",
        "confirm_mail_subject": "请确认订阅《{site}》",
        "confirm_mail_body": "有人(希望是你)申请用 {email} 订阅《{site}》。\n\n"
                             "请打开以下链接确认(7 天内有效):\n{url}\n\n"
                             "如果不是你本人操作,请忽略本邮件,我们不会再发送任何内容。",
        "status_pending": "等待确认",
        "status_confirmed": "已订阅",
        "status_unsubscribed": "已退订",
        "status_bounced": "因退信暂停",
        "status_complained": "因垃圾邮件举报已退订",
    },
}


def strings_for(language: str) -> Mapping[str, str]:
    """Strings for a BCP 47 tag, falling back from zh-CN to zh to en."""
    primary = language.split("-", 1)[0].lower()
    return STRINGS.get(language, STRINGS.get(primary, STRINGS["en"]))
