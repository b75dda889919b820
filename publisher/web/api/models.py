"""The JSON API's models: every request body, query and answer of /api/v1 as pydantic.

Rule: one definition per shape. The same classes validate the requests (publisher.web.api
.operations) and make the OpenAPI document (publisher.web.api.openapi), so the document
cannot drift from what the server does. Request models refuse unknown fields.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, IPvAnyAddress

from publisher.subscribers.addresses import MAX_ADDRESS, MAX_NAME

Status = Literal["pending", "confirmed", "unsubscribed", "bounced", "complained"]
SendState = Literal["sending", "paused", "cancelled", "done"]
Tag = str  # an audience's word: no spaces or parentheses (checked by the store, 422)
MAX_PAGE = 500


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldError(BaseModel):
    field: str = Field(description="The field at fault, dotted (`consent.at`); `body` for all.")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem document: every answer other than a success."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = Field(default=None,
                                            description="Each field refused (422 only).")


class Consent(_Request):
    """Where and when the person agreed, elsewhere: stored as the consent record."""

    at: AwareDatetime
    source: str = Field(min_length=1, max_length=64,
                        description="Where they agreed, e.g. `shop checkout`.")
    ip: IPvAnyAddress | None = None


class SubscriberCreate(_Request):
    """A new reader: pending with a confirmation mail (as the form), or confirmed at once
    when `consent` says where they agreed. A known address answers the same."""

    email: str = Field(min_length=1, max_length=MAX_ADDRESS)
    name: str | None = Field(default=None, max_length=MAX_NAME)
    topics: list[str] = Field(default_factory=list, max_length=50,
                              description="Among the site's [topics].")
    timezone: str | None = Field(default=None, max_length=64,
                                 description="An IANA zone, e.g. Europe/Berlin.")
    language: str | None = Field(default=None, max_length=35,
                                 description="One of the site's [site] languages (BCP 47); "
                                             "null: the site's language.")
    consent: Consent | None = None
    welcome: bool = Field(default=False, description="With consent: enter the automations.")


class SubscriptionAccepted(BaseModel):
    """The same answer whoever the address belongs to (no enumeration)."""

    email: str
    requested: Literal["pending", "confirmed"]


class SubscriberUpdate(_Request):
    """Only the fields given change; `timezone: null` clears the zone, `language: null`
    gives the reader the site's language."""

    name: str | None = Field(default=None, max_length=MAX_NAME)
    tags: list[Tag] | None = Field(default=None, max_length=100,
                                   description="Replaces every tag (topics included).")
    topics: list[str] | None = Field(default=None, max_length=50,
                                     description="Replaces the topics, keeping other tags.")
    timezone: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=35,
                                 description="One of the site's [site] languages (BCP 47); "
                                             "null: the site's language.")


class Subscriber(BaseModel):
    id: int
    email: str
    name: str
    status: Status
    tags: list[str]
    topics: list[str] = Field(description="The tags that are the site's topics.")
    timezone: str | None
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    consent_source: str | None
    language: str | None = Field(description="null: the site's language.")


class SubscriberQuery(_Request):
    email: str | None = Field(default=None, max_length=MAX_ADDRESS,
                              description="Exactly this address (0 or 1 result).")
    status: Status | None = None
    tag: str | None = Field(default=None, max_length=100)
    changed_since: AwareDatetime | None = None
    cursor: str | None = Field(default=None, max_length=100,
                               description="`next_cursor` of the previous page.")
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)


class SubscriberPage(BaseModel):
    items: list[Subscriber]
    next_cursor: str | None = Field(description="null on the last page.")


class Send(BaseModel):
    id: int
    issue: str
    subject: str
    state: SendState
    counts: dict[str, int]
    total: int
    remaining: int
    created_at: datetime
    finished_at: datetime | None
    paused_at: datetime | None
    cancelled_at: datetime | None
    audience: str | None
    pruned: bool


class SendList(BaseModel):
    items: list[Send]


class ReportFailure(BaseModel):
    state: str
    reply: str
    count: int


class ReportLimits(BaseModel):
    bounce_rate: float
    complaint_rate: float


class ReportClicks(BaseModel):
    """A counted link of the send: its clicks and link scanners' prefetches, in all."""

    url: str
    clicks: int
    prefetches: int


class Report(BaseModel):
    """`publisher report --json`, the same document."""

    issue: str
    subject: str
    state: SendState
    audience: str | None
    counts: dict[str, int]
    total: int
    # counts per state of each language the send went out in ("": rows from before
    # languages were recorded)
    by_language: dict[str, dict[str, int]]
    created_at: str | None
    finished_at: str | None
    first_sent_at: str | None
    last_sent_at: str | None
    duration_seconds: float | None
    average_rate: float | None
    rate_per_second: float | None
    eta_seconds: float | None
    bounces: int
    bounce_rate: float
    complaints: int
    complaint_rate: float
    limits: ReportLimits
    warnings: list[str]
    pruned: bool
    failures: list[ReportFailure]
    clicks: list[ReportClicks]  # empty when the send did not count its links' clicks
