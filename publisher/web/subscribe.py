"""Subscribe (double opt-in), confirm, one-click unsubscribe (RFC 8058) and preferences.

GET never changes state. Responses to /subscribe are the same whether or not the address is
known, and take the same time: the confirmation mail is only written to the outbox (the
app's Courier, publisher.sending.oneoff, sends it after the answer), and every "check your
inbox" answer waits out STEADY_ANSWER_SECONDS, so the database work left does not show.
`ask_to_subscribe` is that request, for the form and the JSON API's pending create alike.
Every POST made from our own pages answers 303 to a GET page (Post/Redirect/Get), so Back
and Reload repeat nothing; only the RFC 8058 one-click POST answers 200 in place.
A refused address, name, topic, time zone or language re-renders the form with what was
typed, naming the field at fault. Readers pick topics, (optionally) a time zone and, on a site
of several languages, their language on the subscribe form and change them on the
preferences page (publisher.web.choices); the store logs each change with its own event row.
The subscribe pages speak the language chosen on the form (or named by `?language=`), else
the best match of the browser's Accept-Language; the pages a reader's link opens (confirm,
unsubscribe, preferences) speak the reader's stored language, else the site's. Tokens are
HMAC-signed per purpose; a bad one is a 400 page, never a 500; an expired confirmation link
says so and how to come back.
"""

from __future__ import annotations

import asyncio
import hmac
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from secrets import token_urlsafe
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from publisher.errors import BadToken, InvalidAddress
from publisher.i18n import N_, STATUS_LABELS, translator_for
from publisher.ratelimit import client_key
from publisher.sending import oneoff
from publisher.subscribers import store
from publisher.subscribers.addresses import (
    MAX_ADDRESS,
    MAX_NAME,
    Address,
    RejectedInput,
    normalise_address,
    normalise_name,
)
from publisher.subscribers.languages import best_language
from publisher.subscribers.store import Consent
from publisher.tokens import (
    Purpose,
    preferences_token,
    reader_from,
)
from publisher.web import choices, forms
from publisher.web.problem_texts import INVALID_TITLES, PROBLEM_TEXTS
from publisher.web.state import WebState

RESEND_AFTER = timedelta(minutes=10)
CSRF_COOKIE = "publisher_csrf"
MAX_FIELDS = 40
SENT_PATH = "/subscribe/sent"
# What a damaged link's page tells its reader to do: someone leaving is not told to subscribe.
BAD_LINK = N_("The link is invalid or has expired. Subscribe again from the archive.")
BAD_LINK_TEXTS = {
    Purpose.UNSUBSCRIBE: N_("This unsubscribe link is damaged or incomplete (a mail program may "
                            "have cut it). To stop receiving {site}, use the Unsubscribe link "
                            "at the bottom of any issue, or your mail program's unsubscribe "
                            "button."),
    Purpose.PREFERENCES: N_("This preferences link is damaged or incomplete (a mail program may "
                            "have cut it). Open Preferences from the bottom of any recent "
                            "issue."),
}
# Every "check your inbox" answer takes at least this long, whoever asked: the database work
# (a new row or none, a mail queued or not) stays well inside it.
STEADY_ANSWER_SECONDS = 0.1
# Verifying a confirmation link with this age limit tells "expired" from "forged".
_SIGNED_EVER = timedelta(days=365 * 100)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _ours(request: Request, base_url: str) -> set[str]:
    return {urlsplit(base_url).netloc, request.url.netloc}


def _cross_site(request: Request, base_url: str) -> bool:
    """The browser says the request comes from another site: refused whatever it carries."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return True
    origin = request.headers.get("origin")
    return bool(origin and origin != "null"
                and urlsplit(origin).netloc not in _ours(request, base_url))


def _same_site(request: Request, base_url: str) -> bool:
    """CSRF for the static archive's plain form: the browser's Origin/Referer is ours."""
    if request.headers.get("sec-fetch-site") == "same-origin":
        return True
    for header in ("origin", "referer"):
        value = request.headers.get(header)
        if value and value != "null":
            return urlsplit(value).netloc in _ours(request, base_url)
    return False


async def _form(request: Request) -> dict[str, str]:
    return await forms.form_fields(request, MAX_FIELDS)  # its size: forms.BodyLimit


async def _topics(request: Request) -> list[str]:
    """Every ticked topic checkbox (a field that repeats, which `_form` keeps once)."""
    return await forms.repeated_field(request, choices.TOPIC_FIELD, MAX_FIELDS)


def _as_typed(value: str, limit: int) -> str:
    """What the reader typed, to fill the form again: printable characters only."""
    return "".join(char for char in value if char.isprintable())[:limit]


def _subscribe_path(language: str | None) -> str:
    """The subscribe form, in a reader's language when they have one."""
    return "/subscribe" if language is None else f"/subscribe?language={language}"


def _problem_text(problem: RejectedInput | None, gettext: Callable[[str], str]) -> str:
    """The line naming a refused field's fault, in the page's language; "" when none."""
    return gettext(PROBLEM_TEXTS[problem.field, problem.kind]) if problem else ""


def _see(path: str) -> RedirectResponse:
    """Post/Redirect/Get: Back and Reload then fetch a page and send nothing again."""
    return RedirectResponse(path, status_code=303)


def _steady(endpoint: Callable[[Request], Awaitable[Response]]
            ) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint, its "check your inbox" answers held back to STEADY_ANSWER_SECONDS after
    the request came in: new, pending, confirmed, rate-limited or a bot, it takes as long."""

    async def answer(request: Request) -> Response:
        loop = asyncio.get_running_loop()
        steady = loop.time() + STEADY_ANSWER_SECONDS
        response = await endpoint(request)
        if urlsplit(response.headers.get("location", "")).path == SENT_PATH:
            await asyncio.sleep(max(0.0, steady - loop.time()))
        return response

    return answer


def ask_to_subscribe(state: WebState, address: Address, name: str, consent: Consent,
                     choice: store.Choice) -> None:
    """The person's request to subscribe (the form, the API's pending create): stored as
    pending with its confirmation mail written to the outbox, at most one per RESEND_AFTER.
    Whoever is asked for (new, pending, confirmed, erased, or over the per-address limit),
    the caller answers the same: no enumeration, no mail bombing."""
    if not state.address_limiter.allow(address.key):
        return
    now = state.clock()
    try:
        subscriber = store.request_subscription(state.engine, address, name, consent, now,
                                                choice)
    except InvalidAddress:
        return  # suppressed (erased) addresses get the same answer and no mail
    if subscriber.status != store.PENDING:
        return
    with state.engine.begin() as conn:  # the claim and the outbox row, or neither
        if not store.claim_confirmation_mail(conn, subscriber.id, now, RESEND_AFTER):
            return
        oneoff.enqueue_confirmation(conn, state.config, subscriber, now)
    state.courier.wake()  # sent after the answer, retried with backoff if it fails


def routes(state: WebState) -> list[BaseRoute]:
    """The subscriber routes, over the app's one state."""
    handlers = _Handlers(state)
    return [
        Route("/subscribe", handlers.subscribe_form, methods=["GET"]),
        Route("/subscribe", _steady(handlers.subscribe), methods=["POST"]),
        Route(SENT_PATH, handlers.sent_page, methods=["GET"]),
        Route("/confirm/{token}", handlers.confirm_page, methods=["GET"]),
        Route("/confirm/{token}", handlers.confirm, methods=["POST"]),
        Route("/unsubscribe/{token}", handlers.unsubscribe_page, methods=["GET"]),
        Route("/unsubscribe/{token}", handlers.unsubscribe, methods=["POST"]),
        Route("/preferences/{token}", handlers.preferences_page, methods=["GET"]),
        Route("/preferences/{token}", handlers.preferences, methods=["POST"]),
    ]


class _Handlers:
    def __init__(self, state: WebState) -> None:
        self.state = state

    def _browser_language(self, request: Request, named: str = "") -> str:
        """The language of a subscribe page: the one `named` (by the form or `?language=`)
        if the site has it, else the best match of the browser's Accept-Language."""
        site = self.state.config.site
        try:
            chosen = choices.chosen_language(self.state.config, named)
        except RejectedInput:
            chosen = None
        return chosen or best_language(request.headers.get("accept-language"),
                                       site.languages, site.language)

    def _sent_path(self, form: dict[str, str]) -> str:
        """Where every answer to a subscribe POST goes: "check your inbox", in the language
        the form chose when the site offers several (the same for a bot, a known address
        and a new one)."""
        named = form.get(choices.LANGUAGE_FIELD, "")
        try:
            chosen = choices.chosen_language(self.state.config, named)
        except RejectedInput:
            chosen = None
        return SENT_PATH if chosen is None else f"{SENT_PATH}?language={chosen}"

    def _subscribe_form(self, request: Request, status: int = 200,
                        problem: RejectedInput | None = None,
                        typed: dict[str, str] | None = None,
                        topics: list[str] | None = None) -> HTMLResponse:
        """The form with a CSRF token bound to this browser: the token signs a random
        value that only this browser holds, in a SameSite=Strict cookie (double submit).
        After a refusal it names the field at fault and keeps what was `typed`."""
        nonce = request.cookies.get(CSRF_COOKIE) or ""
        if not re.fullmatch(r"[A-Za-z0-9_-]{22,64}", nonce):
            nonce = token_urlsafe(24)
        token = self.state.signer.sign(Purpose.CSRF, nonce)
        typed = typed or {}
        language = self._browser_language(
            request, typed.get(choices.LANGUAGE_FIELD, request.query_params.get("language", "")))
        _ = translator_for(language).gettext
        heading = N_("Get it by email") if problem is None else INVALID_TITLES[problem.field]
        form = {"action": "/subscribe", "hidden": [("csrf", token)], "subscribe": True,
                "email": _as_typed(typed.get("email", ""), MAX_ADDRESS),
                "name": _as_typed(typed.get("name", ""), MAX_NAME),
                "error": _problem_text(problem, _),
                "error_field": problem.field if problem else "",
                "choices": choices.choice_fields(self.state.config, topics or [],
                                                 typed.get(choices.ZONE_FIELD), language),
                "buttons": [("", "", _("Subscribe"))]}
        note = _("We send a confirmation link first. Unsubscribe in one click.")
        response = self.state.page(heading, [note], status, form, language=language)
        response.set_cookie(CSRF_COOKIE, nonce, max_age=2 * 3600, path="/subscribe",
                            httponly=True, samesite="strict",
                            secure=self.state.config.site.base_url.startswith("https:"))
        return response

    async def subscribe_form(self, request: Request) -> Response:
        return self._subscribe_form(request)

    async def sent_page(self, request: Request) -> Response:
        language = self._browser_language(request, request.query_params.get("language", ""))
        text = self.state.text(N_("If the address can receive mail, a confirmation link is on "
                                  "its way. Open it to start receiving the digest."), language)
        return self.state.page(N_("Check your inbox"), [text], language=language)

    async def subscribe(self, request: Request) -> Response:
        state = self.state
        form = await _form(request)
        language = self._browser_language(request, form.get(choices.LANGUAGE_FIELD, ""))
        if not self._csrf_ok(request, form):
            refused = state.text(N_("This form must be sent from the site itself. Reload the "
                                    "page and retry."), language)
            return state.page(N_("Request refused"), [refused], 403, language=language)
        if not state.ip_limiter.allow(client_key(_client_ip(request))):
            wait = state.text(N_("Too many attempts from here. Please wait a few minutes and "
                                 "try again."), language)
            return state.page(N_("Too many requests"), [wait], 429, language=language)
        sent = self._sent_path(form)
        if form.get("website"):  # honeypot filled: a bot; answer as if all went well
            return _see(sent)
        topics = await _topics(request)
        try:
            address = normalise_address(form.get("email", ""))
            name = normalise_name(form.get("name"))
            choice = choices.choice_from(state.config, topics, form.get(choices.ZONE_FIELD, ""),
                                         form.get(choices.LANGUAGE_FIELD, ""))
        except RejectedInput as problem:
            return self._subscribe_form(request, 400, problem, form, topics)
        consent = Consent("form", state.clock(), _client_ip(request),
                          request.headers.get("user-agent"))
        ask_to_subscribe(state, address, name, consent, choice)
        return _see(sent)

    def _csrf_ok(self, request: Request, form: dict[str, str]) -> bool:
        """A foreign Origin (or Sec-Fetch-Site: cross-site) is refused whatever the token;
        a token must match this browser's cookie; the static archive's plain form (no
        token) must come from our own pages."""
        base_url = self.state.config.site.base_url
        if _cross_site(request, base_url):
            return False
        token = form.get("csrf")
        if token:
            cookie = request.cookies.get(CSRF_COOKIE, "")
            try:
                signed = self.state.signer.verify(Purpose.CSRF, token)
            except BadToken:
                return False
            return bool(cookie) and hmac.compare_digest(str(signed), cookie)
        return _same_site(request, base_url)

    def _verified(self, request: Request, purpose: Purpose) -> store.Subscriber | None:
        """The subscriber an unsubscribe or preferences link names (links without expiry);
        None for a bad link, and for one whose reader is no longer on the list."""
        try:
            reader = reader_from(self.state.signer, purpose, request.path_params["token"])
        except BadToken:
            return None
        with self.state.engine.connect() as conn:
            return store.token_holder(conn, reader)

    def _not_named(self, request: Request, purpose: Purpose) -> HTMLResponse:
        """The answer to a link that names nobody on the list: a validly signed one is of
        someone erased since (or of an id now someone else's), and says only that this
        address is no longer on the list; anything else is a bad link."""
        try:
            reader_from(self.state.signer, purpose, request.path_params["token"])
        except BadToken:
            return self._bad_link(BAD_LINK_TEXTS.get(purpose, BAD_LINK))
        gone = self.state.text(N_("This address is no longer on the list of {site}: no more "
                                  "email will be sent to it."))
        return self.state.page(N_("Unsubscribed"), [gone])

    def _confirm_link(self, request: Request) -> tuple[store.Subscriber, bool] | None:
        """The subscriber a confirmation link names and whether it is past its 7 days;
        None for a forged or foreign link, or one issued for another address."""
        token = request.path_params["token"]
        expired = False
        try:
            payload = self.state.signer.verify(Purpose.CONFIRM, token)
        except BadToken:
            try:
                payload = self.state.signer.verify(Purpose.CONFIRM, token, max_age=_SIGNED_EVER)
            except BadToken:
                return None
            expired = True
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), int):
            return None
        with self.state.engine.connect() as conn:
            subscriber = store.get(conn, payload["id"])
        if subscriber is None or payload.get("email") != subscriber.email:
            return None
        return subscriber, expired

    def _bad_link(self, text: str = BAD_LINK) -> HTMLResponse:
        """A link that is not ours or not whole; `text` says what to do for its kind (an
        unsubscribe link's reader wants out, not to subscribe again)."""
        return self.state.page(N_("This link does not work"), [self.state.text(text)], 400)

    def _language(self, subscriber: store.Subscriber) -> str:
        """The language of the pages a reader's link opens: theirs, else the site's."""
        return subscriber.language or self.state.language

    def _text(self, message: str, subscriber: store.Subscriber) -> str:
        language = self._language(subscriber)
        status = translator_for(language).gettext(STATUS_LABELS[subscriber.status])
        return self.state.text(message, language, email=subscriber.email, status=status)

    def _button_page(self, request: Request, heading: str, text: str, button: str,
                     subscriber: store.Subscriber,
                     hidden: list[tuple[str, str]] | None = None) -> HTMLResponse:
        language = self._language(subscriber)
        form = {"action": request.url.path, "hidden": hidden or [], "subscribe": False,
                "buttons": [("", "", translator_for(language).gettext(button))]}
        return self.state.page(heading, [self._text(text, subscriber)], 200, form,
                               language=language)

    def _expired_page(self, subscriber: store.Subscriber) -> HTMLResponse:
        language = self._language(subscriber)
        text = (N_("{email} is not subscribed to {site} now ({status}), and this confirmation "
                   "link has expired (links work for 7 days). To come back, subscribe again "
                   "and confirm the new mail.") if subscriber.status in store.LEFT
                else N_("Confirmation links work for 7 days. Subscribe again and we will send "
                        "you a new one."))
        again = translator_for(language).gettext("Subscribe again")
        return self.state.page(N_("This confirmation link has expired"),
                               [self._text(text, subscriber)], 400,
                               links=[(_subscribe_path(subscriber.language), again)],
                               language=language)

    async def confirm_page(self, request: Request) -> Response:
        """The button to confirm; for someone who left since, the button to come back
        (within the link's 7 days); for a confirmed subscriber, the confirmed page."""
        link = self._confirm_link(request)
        if link is None:
            return self._bad_link()
        subscriber, expired = link
        if subscriber.status == store.CONFIRMED:
            thanks = self._text(N_("Thank you. {email} will receive the next issue of {site}."),
                                subscriber)
            return self.state.page(N_("Subscription confirmed"), [thanks],
                                   language=self._language(subscriber))
        if expired:
            return self._expired_page(subscriber)
        if subscriber.status in store.LEFT:
            return self._button_page(
                request, N_("Confirm your subscription"),
                N_("{email} is not subscribed to {site} now ({status}). Press the button to "
                   "subscribe again."), N_("Subscribe again"), subscriber)
        return self._button_page(
            request, N_("Confirm your subscription"),
            N_("Press the button to confirm that {email} wants to receive {site}."),
            N_("Confirm subscription"), subscriber)

    async def confirm(self, request: Request) -> Response:
        """Confirm, or bring back someone who left since: the link proves they hold the
        mailbox and the button is their own request. Then 303 to the confirmed page."""
        link = self._confirm_link(request)
        if link is None:
            return self._bad_link()
        subscriber, expired = link
        if expired and subscriber.status != store.CONFIRMED:
            return self._expired_page(subscriber)
        now = self.state.clock()
        with self.state.engine.begin() as conn:
            current = store.get(conn, subscriber.id)
            if current is not None and current.status in store.LEFT:
                store.resubscribe(conn, subscriber.id, now, "confirmation link")
            else:
                store.confirm(conn, subscriber.id, now)
        return _see(request.url.path)

    async def unsubscribe_page(self, request: Request) -> Response:
        subscriber = self._verified(request, Purpose.UNSUBSCRIBE)
        if subscriber is None:
            return self._not_named(request, Purpose.UNSUBSCRIBE)
        if subscriber.status == store.UNSUBSCRIBED:
            return self._unsubscribed_page(subscriber)
        return self._button_page(
            request, N_("Unsubscribe"),
            N_("Press the button to stop emails from {site} to {email}."), N_("Unsubscribe"),
            subscriber, [("via", "page")])

    def _unsubscribed_page(self, subscriber: store.Subscriber) -> HTMLResponse:
        """Done, with the way back: the preferences page offers to subscribe again."""
        language = self._language(subscriber)
        token = preferences_token(self.state.signer, subscriber.id, subscriber.email)
        back = f"/preferences/{token}"
        return self.state.page(N_("Unsubscribed"),
                               [self._text(N_("{email} will not receive {site} any more."),
                                           subscriber)],
                               links=[(back, translator_for(language).gettext(
                                   "Changed your mind? Subscribe again"))],
                               language=language)

    async def unsubscribe(self, request: Request) -> Response:
        """RFC 8058 one-click: no cookie, no CSRF token, no redirect; idempotent; 200 (also
        for a person erased since: they are off the list, and nothing is stored). Our own
        page's button (`via=page`) gets 303 to the GET page instead."""
        subscriber = self._verified(request, Purpose.UNSUBSCRIBE)
        if subscriber is None:
            return self._not_named(request, Purpose.UNSUBSCRIBE)
        form = await _form(request)
        how = "one-click" if form.get("List-Unsubscribe") == "One-Click" else "page"
        with self.state.engine.begin() as conn:
            store.unsubscribe(conn, subscriber.id, self.state.clock(), how)
        if how == "page" and form.get("via") == "page":
            return _see(request.url.path)
        return self._unsubscribed_page(subscriber)

    async def preferences_page(self, request: Request) -> Response:
        subscriber = self._verified(request, Purpose.PREFERENCES)
        if subscriber is None:
            return self._not_named(request, Purpose.PREFERENCES)
        saved = request.query_params.get("saved") == "1"
        return self._preferences_form(request, subscriber, saved)

    def _preferences_form(self, request: Request, subscriber: store.Subscriber, saved: bool,
                          problem: RejectedInput | None = None) -> HTMLResponse:
        """Status, topics and zone, with the buttons to save them and to leave (or come
        back); after a refusal, the field at fault is named."""
        config = self.state.config
        language = self._language(subscriber)
        _ = translator_for(language).gettext
        status = _(STATUS_LABELS[subscriber.status])
        buttons = [("action", "save", _("Save topics and time zone")),
                   ("action", "unsubscribe", _("Unsubscribe"))
                   if subscriber.status == store.CONFIRMED
                   else ("action", "subscribe", _("Subscribe again"))]
        form = {"action": request.url.path, "hidden": [], "subscribe": False,
                "error": _problem_text(problem, _),
                "error_field": problem.field if problem else "",
                "choices": choices.choice_fields(config, subscriber.tags, subscriber.timezone,
                                                 language),
                "buttons": buttons}
        text = self.state.text(N_("Status of {email}: {status}."), language,
                               email=subscriber.email, status=status)
        held = choices.summary(config, subscriber.tags, subscriber.timezone, language)
        heading = INVALID_TITLES[problem.field] if problem else N_("Subscription preferences")
        saved_line = [_("Your change is saved.")] if saved else []
        return self.state.page(heading, [*saved_line, text, held],
                               400 if problem else 200, form, language=language)

    async def preferences(self, request: Request) -> Response:
        subscriber = self._verified(request, Purpose.PREFERENCES)
        if subscriber is None:
            return self._not_named(request, Purpose.PREFERENCES)
        form = await _form(request)
        action, now = form.get("action"), self.state.clock()
        try:
            choice = (choices.choice_from(self.state.config, await _topics(request),
                                          form.get(choices.ZONE_FIELD, ""),
                                          form.get(choices.LANGUAGE_FIELD, ""))
                      if action == "save" else None)
        except RejectedInput as problem:
            return self._preferences_form(request, subscriber, False, problem)
        with self.state.engine.begin() as conn:
            if action == "subscribe":  # the link proves control of the mailbox
                store.resubscribe(conn, subscriber.id, now, "preferences")
            elif action == "unsubscribe":
                store.unsubscribe(conn, subscriber.id, now, "preferences")
            elif choice is not None:
                store.set_topics(conn, subscriber.id, choice.topics, choice.declared, now)
                store.set_timezone(conn, subscriber.id, choice.timezone, now)
                if choices.LANGUAGE_FIELD in form:  # offered: the site has several
                    store.set_language(conn, subscriber.id, choice.language, now)
        saved = "?saved=1" if action in ("subscribe", "unsubscribe", "save") else ""
        return _see(request.url.path + saved)

