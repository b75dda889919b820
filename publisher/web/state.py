"""The one state of the web app: what the public pages, the console and the API share.

Rule: one `WebState` per app, made once by publisher.web.app.create_app's caller. It holds
the config, the secrets, the clock, the rate limits, and opens ONE engine (its migrations
checked once, on first use, so a database that is away answers 503 rather than stopping the
server), one jinja environment, one Courier for the one-off mails, one readership tally, and
one click tally with what the click route knows of links.
Route modules read it; none makes an engine, a clock or a limiter of its own. Tests inject
the clock and limits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

import jinja2
from sqlalchemy.engine import Engine
from starlette.responses import HTMLResponse

from publisher import events
from publisher.analytics.click_tally import ClickTally, KnownLinks
from publisher.analytics.tally import Tally
from publisher.clock import Clock, utc_now
from publisher.config import Config, Secrets
from publisher.db import open_database
from publisher.i18n import Translator, translator_for
from publisher.ratelimit import FailureDelay, KeyedLimiter
from publisher.sending import oneoff
from publisher.templating import environment
from publisher.tokens import TokenSigner


def _subscribes_per_ip() -> KeyedLimiter:
    return KeyedLimiter(rate=5, per=60, burst=5, clock=time.monotonic)


def _subscribes_per_address() -> KeyedLimiter:
    return KeyedLimiter(rate=3, per=3600, burst=3, clock=time.monotonic)


def _api_requests_per_token() -> KeyedLimiter:
    return KeyedLimiter(rate=600, per=60, burst=120, clock=time.monotonic)


def _login_failures_per_address() -> FailureDelay:
    return FailureDelay(free=10, first=5, longest=60, clock=time.monotonic)


def _login_failures_per_account() -> FailureDelay:
    return FailureDelay(free=5, first=5, longest=300, clock=time.monotonic)


@dataclass
class WebState:
    """Config, secrets, clock, limits, and the engine, pages and Courier made from them.

    Subscribing is limited per client address (5 a minute) and per address typed (3 an
    hour). Failed console logins slow down their own (address, account) pair: 5 free, then
    5 s doubling up to 5 min; and their address across accounts: 10 free, then 5 s doubling
    up to a minute. Nobody else's failures delay an operator's address, and a login that
    succeeds costs nothing. Each API token may make 600 requests a minute, 120 at once."""

    config: Config
    secrets: Secrets
    clock: Clock = utc_now
    ip_limiter: KeyedLimiter = field(default_factory=_subscribes_per_ip)
    address_limiter: KeyedLimiter = field(default_factory=_subscribes_per_address)
    address_delays: FailureDelay = field(default_factory=_login_failures_per_address)
    login_delays: FailureDelay = field(default_factory=_login_failures_per_account)
    api_limiter: KeyedLimiter = field(default_factory=_api_requests_per_token)

    @cached_property
    def engine(self) -> Engine:
        """The app's one engine, opened on first use: its schema brought up to date and its
        webhook endpoints made the config's, so a subscribe before the daemon ever ran is
        still reported."""
        engine = open_database(self.config.database_url)
        events.sync_configured(engine, self.config.webhook_endpoints, self.clock())
        return engine

    @cached_property
    def tally(self) -> Tally:
        """Turns the feed and archive requests `serve` answers into counts (its day's salt
        lives here, in memory only)."""
        return Tally(self.config.site.zone)

    @cached_property
    def click_tally(self) -> ClickTally:
        """Counts the clicks on emails' links until they are written (its prefetch salt
        lives here, in memory only)."""
        analytics = self.config.settings.analytics
        return ClickTally(self.config.site.zone, analytics.prefetch_seconds)

    @cached_property
    def known_links(self) -> KnownLinks:
        """What the click route remembers of links and sends between requests."""
        return KnownLinks()

    @cached_property
    def signer(self) -> TokenSigner:
        return TokenSigner(self.secrets.secret_keys)

    @cached_property
    def templates(self) -> jinja2.Environment:
        return environment(self.config.templates_dir)

    @cached_property
    def courier(self) -> oneoff.Courier:
        """Sends the one-off mails the routes write to the outbox (DKIM keys loaded once)."""
        return oneoff.Courier(lambda: oneoff.OneOffs(self.engine, self.config, self.secrets,
                                                     self.clock))

    @property
    def language(self) -> str:
        return self.config.site.language

    @property
    def translator(self) -> Translator:
        """The site's language's translations."""
        return translator_for(self.language)

    def page(self, heading: str, paragraphs: list[str], status: int = 200,
             form: dict[str, object] | None = None,
             links: list[tuple[str, str]] | None = None,
             language: str | None = None) -> HTMLResponse:
        """A public page in `language` (a reader's; None: the site's) under `heading` (a
        msgid, translated here); `links` are (href, text of the link)."""
        language = language or self.language
        translator = translator_for(language)
        html = self.templates.get_template("pages/base.html.j2").render(
            language=language, site=self.config.site, **translator.template_functions(),
            heading=translator.gettext(heading), paragraphs=paragraphs, form=form,
            links=links or [])
        return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})

    def text(self, message: str, language: str | None = None, **values: str) -> str:
        """A msgid translated (in `language`, None: the site's) with the site's title and
        `values` filled in."""
        return translator_for(language or self.language).gettext(
            message, site=self.config.site.title, **values)
