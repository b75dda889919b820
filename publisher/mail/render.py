"""Issue -> the email's HTML (jinja2 + MJML, once per issue) and plain text (from the AST).

Per-subscriber values are placeholders filled by `personalise` after rendering, so MJML runs
once per issue however many people receive it; a preview fills them with `sample_recipient`.
Root-relative links and images in the body are made absolute against the site's base URL in
both parts: a mail client has no site to resolve them against.
The email's own words (the header line, the date, the footer) are in the reader's language,
which may differ from the content's: an English reader of an issue with no English
translation gets the original with English fixed strings, the blocks that carry them marked
`lang` (the document's `lang` stays the content's).
"""

from __future__ import annotations

import html as html_lib
import re
from dataclasses import dataclass

import jinja2
from markupsafe import Markup
from mjml import mjml2html

from publisher import urls
from publisher.config import Config
from publisher.content.issues import Issue
from publisher.content.markup import to_html
from publisher.content.plaintext import display_width, to_text, wrap
from publisher.errors import ConfigError, IssueFileError, Problem
from publisher.i18n import translator_for
from publisher.mail.rendered import (
    EMAIL,
    NAME,
    PLACEHOLDERS,
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    RenderedEmail,
)
from publisher.templating import date_label, environment

TEMPLATE = "email.mjml.j2"
FONT_STACK = (
    "-apple-system, BlinkMacSystemFont, 'Segoe UI', 'PingFang SC', 'Hiragino Sans GB', "
    "'Microsoft YaHei', 'Noto Sans CJK SC', 'Source Han Sans SC', 'Helvetica Neue', "
    "Arial, sans-serif"
)
COLOR_SCHEME_META = (
    '<meta name="color-scheme" content="light dark">'
    '<meta name="supported-color-schemes" content="light dark">'
)


@dataclass(frozen=True)
class Recipient:
    """The per-subscriber values that go into an email."""

    email: str
    name: str
    unsubscribe_url: str
    preferences_url: str


SAMPLE_TOKEN = "sample"  # visible in a preview's links, and no real token verifies as it


def sample_recipient(base_url: str) -> Recipient:
    """Who a preview is addressed to: a made-up reader whose links say they are a sample."""
    return Recipient(
        email="reader@example.org",
        name="Sample Reader",
        unsubscribe_url=urls.unsubscribe_url(base_url, SAMPLE_TOKEN),
        preferences_url=urls.preferences_url(base_url, SAMPLE_TOKEN),
    )


def edition_url(issue: Issue, base_url: str) -> str:
    """The root of the archive edition an issue's email belongs to: the site's for an
    original, the language's (`/en`) for a translation, whose page and feeds live there."""
    return base_url + ("" if issue.translation_of is None else urls.language_path(issue.language))


def _date_label(issue: Issue, config: Config, language: str) -> str:
    """The issue's date in the site's timezone, written the way of `language`."""
    return date_label(issue.published.astimezone(config.site.zone), language)


def strings_language(issue: Issue, reader_language: str | None) -> str:
    """The language of the email's fixed strings: the reader's, else the content's."""
    return reader_language or issue.language


def _lang_attribute(strings: str, content: str) -> Markup:
    """` lang="en"` for the blocks of fixed strings when their language is not the
    content's; nothing otherwise, so an email in one language is as it always was."""
    return Markup("") if strings == content else Markup(' lang="{}"').format(strings)


def render_mjml(issue: Issue, config: Config, reader_language: str | None = None) -> str:
    """Fill the MJML template for an issue (the jinja2 stage), its fixed strings in
    `reader_language` (default: the issue's language)."""
    site = config.site
    strings = strings_language(issue, reader_language)
    try:
        template = environment(config.templates_dir,
                               keep_trailing_newline=True).get_template(TEMPLATE)
    except jinja2.TemplateNotFound as exc:
        raise ConfigError(
            f"paths.templates: {config.templates_dir / TEMPLATE} not found") from exc
    return template.render(
        language=issue.language,
        title=issue.title,
        preheader=issue.meta.summary or issue.title,
        font_stack=FONT_STACK,
        view_url=urls.issue_url(edition_url(issue, site.base_url), issue.slug),
        feed_url=urls.feed_url(edition_url(issue, site.base_url), "atom"),
        site_title=site.title,
        date_label=_date_label(issue, config, strings),
        lang_attr=_lang_attribute(strings, issue.language),
        authors=", ".join(issue.meta.authors),
        source=issue.meta.source,
        content=Markup(to_html(issue.body, email=True, base_url=site.base_url)),
        recipient=EMAIL,
        **translator_for(strings).template_functions(),
        unsubscribe_url=UNSUBSCRIBE_URL,
        preferences_url=PREFERENCES_URL,
        contact_line=site.contact_line,
    )


PREHEADER_STYLE = "display:none;font-size:1px;color:#ffffff;line-height:1px;"


def _finish_html(html: str) -> str:
    """Add the colour-scheme meta tags mjml has no element for, and give the hidden
    preheader a readable colour: white-on-grey trips spam filters' low-contrast rules."""
    html = html.replace(PREHEADER_STYLE, PREHEADER_STYLE.replace("#ffffff", "#57606a"), 1)
    return html.replace("<head>", "<head>" + COLOR_SCHEME_META, 1)


def render_text(issue: Issue, config: Config, reader_language: str | None = None) -> str:
    """The plain-text part: title, meta line, the body from the AST, and the footer (its
    fixed strings in `reader_language`, default the issue's)."""
    strings = strings_language(issue, reader_language)
    _ = translator_for(strings).gettext
    colon = _(": ")
    site = config.site
    header = [
        issue.title,
        "=" * min(76, max(display_width(issue.title), 10)),
        f"{site.title} · {_date_label(issue, config, strings)}",
    ]
    if issue.meta.authors:
        header.append(_("By {authors}", authors=", ".join(issue.meta.authors)))
    page = urls.issue_url(edition_url(issue, site.base_url), issue.slug)
    header.append(_("View in your browser") + colon + page)
    body = to_text(issue.body, links_heading=_("Links"), base_url=site.base_url)
    footer = ["-- ", wrap(_("You are receiving this because {email} subscribed to {site}.",
                            email=EMAIL, site=site.title))]
    if issue.meta.source:
        footer.append(_("Source") + colon + issue.meta.source)
    footer.append(_("Unsubscribe") + colon + UNSUBSCRIBE_URL)
    footer.append(_("Preferences") + colon + PREFERENCES_URL)
    if site.contact_line:
        footer.append(wrap(site.contact_line))
    return "\n".join(header) + "\n\n" + body + "\n" + "\n".join(footer) + "\n"


def render_email(issue: Issue, config: Config,
                 reader_language: str | None = None) -> RenderedEmail:
    """Render an issue's email once, its fixed strings in `reader_language` (default: the
    issue's; its `language` stays the content's); raise a located error when the HTML is
    too large."""
    html = _finish_html(mjml2html(render_mjml(issue, config, reader_language)))
    rendered = RenderedEmail(
        slug=issue.slug,
        subject=issue.title,
        language=issue.language,
        html=html,
        text=render_text(issue, config, reader_language),
    )
    limit = config.settings.email.max_html_bytes
    if rendered.html_bytes > limit:
        raise IssueFileError([Problem(issue.path, None, "body",
            f"email HTML is {rendered.html_bytes} bytes, over the {limit}-byte limit "
            "(Gmail clips larger messages)")])
    return rendered


_PLACEHOLDER_RE = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))


def personalise(rendered: RenderedEmail, recipient: Recipient) -> tuple[str, str]:
    """Fill per-subscriber values: HTML-escaped into the HTML part, verbatim into the text."""
    raw = {
        UNSUBSCRIBE_URL: recipient.unsubscribe_url,
        PREFERENCES_URL: recipient.preferences_url,
        EMAIL: recipient.email,
        NAME: recipient.name or recipient.email,
    }
    escaped = {key: html_lib.escape(value, quote=True) for key, value in raw.items()}
    html = _PLACEHOLDER_RE.sub(lambda m: escaped[m.group(0)], rendered.html)
    text = _PLACEHOLDER_RE.sub(lambda m: raw[m.group(0)], rendered.text)
    return html, text
