"""The database: engine (SQLite WAL or PostgreSQL), tables, and numbered migrations.

SQLAlchemy Core only. Migrations are a numbered registry applied in order inside one
transaction each; `upgrade` runs on first use and by `publisher db upgrade`. Each table
has its writers, named in `TABLE_OWNERS` next to the tables and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine

from publisher.clock import Clock, utc_now
from publisher.config import Config
from publisher.outage import RetryPolicy, retry


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; refuses naive ones; returns aware UTC datetimes."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

subscriber_table = sa.Table(
    "subscribers", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("email_key", sa.String(320), nullable=False, unique=True),  # case-folded for lookups
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("tags", sa.JSON, nullable=False, default=list),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("confirmed_at", UTCDateTime),
    sa.Column("unsubscribed_at", UTCDateTime),
    sa.Column("bounced_at", UTCDateTime),
    sa.Column("complained_at", UTCDateTime),
    sa.Column("confirmation_sent_at", UTCDateTime),
    sa.Column("consent_at", UTCDateTime),
    sa.Column("consent_source", sa.String(64)),
    sa.Column("consent_ip", sa.String(64)),
    sa.Column("consent_user_agent", sa.String(512)),
    sa.Column("bounce_count", sa.Integer, nullable=False, default=0),
    sa.Column("timezone", sa.String(64)),  # migration 5: IANA zone the reader chose at signup
    # migration 9: when the reader entered the automations (their steps' delays count from
    # it): set by their own confirmation, or by an add/import with --welcome; NULL: never
    sa.Column("automations_at", UTCDateTime),
    # migration 12: the BCP 47 tag of the language the reader reads in, one of the site's
    # `[site] languages`; NULL: the site's language
    sa.Column("language", sa.String(35)),
    # migration 7: SQLite's AUTOINCREMENT, so an erased reader's id is never given again
    # (without it the next row takes the highest id + 1); PostgreSQL's sequence never does
    sqlite_autoincrement=True,
)

subscriber_events = sa.Table(
    "subscriber_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("subscriber_id", sa.Integer, index=True),  # no FK: survives erasure
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("from_status", sa.String(16)),
    sa.Column("to_status", sa.String(16)),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False, default=dict),
)

suppressions = sa.Table(
    "suppressions", metadata,
    sa.Column("email_hash", sa.String(64), primary_key=True),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

sends = sa.Table(
    "sends", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issue_slug", sa.String(200), nullable=False, unique=True),
    sa.Column("entry_id", sa.String(300), nullable=False),
    sa.Column("subject", sa.String(998), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # sending|paused|cancelled|done
    sa.Column("audience_count", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    # migration 2: the email as rendered when the send began (with its translations' since
    # they are sent: publisher.sending.frozen)
    sa.Column("content", sa.JSON),
    # migration 4: operator control and retention
    sa.Column("paused_at", UTCDateTime),
    sa.Column("cancelled_at", UTCDateTime),
    sa.Column("pruned_at", UTCDateTime),  # settled rows and frozen email deleted
    sa.Column("summary", sa.JSON),  # counts and failures by reply, kept when pruned
    # migration 5: what a send is and who it is for
    sa.Column("kind", sa.String(16)),  # issue (NULL in older rows) | automation
    sa.Column("audience", sa.String(1000)),  # the tag expression, as written; NULL: everyone
)

deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("send_id", sa.Integer, sa.ForeignKey("sends.id"), nullable=False),
    sa.Column("subscriber_id", sa.Integer, nullable=False),
    sa.Column("email", sa.String(320), nullable=False),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    # queued|sending|sent|deferred|failed|cancelled
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("last_reply", sa.String(1000)),
    sa.Column("sent_at", UTCDateTime),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("not_before", UTCDateTime),  # migration 5: a queued row is not claimed earlier
    # migration 8: claims taken back from a process that stopped before settling the row
    sa.Column("lost_claims", sa.Integer, nullable=False, default=0, server_default="0"),
    # migration 13: the language of the edition the row gets (the reader's translation,
    # else the original's); NULL: a row written before, which gets the original
    sa.Column("language", sa.String(35)),
    # migration 15: the language of the email's fixed strings (header, date, footer) when
    # it is not the edition's: the reader's, whose language has no translation of the
    # issue; NULL: the edition's own
    sa.Column("strings_language", sa.String(35)),
    sa.UniqueConstraint("send_id", "subscriber_id", name="uq_delivery_send_subscriber"),
    sa.Index("ix_deliveries_claim", "send_id", "status", "next_attempt_at"),
    # migration 6: a send's rows of one state in id order, so a claim reads its batch off
    # the index instead of reading and sorting the send
    sa.Index("ix_deliveries_send_state", "send_id", "status", "id"),
)

leases = sa.Table(
    "leases", metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("owner", sa.String(128), nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

bounce_reports = sa.Table(  # migration 3: reports that name nobody we can verify
    "bounce_reports", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Column("message_key", sa.String(200), nullable=False),  # the Maildir file name
    sa.Column("kind", sa.String(32), nullable=False),  # hard|soft|complaint|unsubscribe
    sa.Column("status", sa.String(32), nullable=False, default=""),
    sa.Column("recipient", sa.String(320), nullable=False, default=""),
    sa.Column("detail", sa.String(1000), nullable=False, default=""),
    sa.Column("reason", sa.String(200), nullable=False),
)

admin_users = sa.Table(  # migration 4: operator console accounts (no default account)
    "admin_users", metadata,
    sa.Column("username", sa.String(64), primary_key=True),
    sa.Column("password_hash", sa.String(200), nullable=False),  # argon2id
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

admin_sessions = sa.Table(  # migration 4: server-side console sessions
    "admin_sessions", metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),  # sha256 of the cookie's id
    sa.Column("username", sa.String(64), nullable=False, index=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
)

automation_steps = sa.Table(  # migration 9: each step's switch and the anchor of its window
    "automation_steps", metadata,
    sa.Column("slug", sa.String(200), primary_key=True),  # its send's slug, automation:<name>
    sa.Column("disabled_at", UTCDateTime),  # `publisher automations disable`; NULL: enabled
    sa.Column("live_since", UTCDateTime),  # switched (back) on at; NULL: off at the last round
    sa.Column("body_hash", sa.String(64)),  # sha256 of its Markdown body, to spot a rename
)

webhook_endpoints = sa.Table(  # migration 10: which endpoint wants which event type
    "webhook_endpoints", metadata,
    sa.Column("type", sa.String(32), primary_key=True),  # first: events look up by type
    sa.Column("url", sa.String(2000), primary_key=True),
)

webhook_events = sa.Table(  # migration 10: changes reported to webhooks, kept for replays
    "webhook_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("order_key", sa.String(64), nullable=False),  # subscriber:<id> | send:<id>
    sa.Column("at", UTCDateTime, nullable=False, index=True),
    sa.Column("data", sa.JSON, nullable=False),
)

webhook_deliveries = sa.Table(  # migration 10: one row per event and endpoint (and replay)
    "webhook_deliveries", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Integer, sa.ForeignKey("webhook_events.id"), nullable=False),
    sa.Column("url", sa.String(2000), nullable=False),
    sa.Column("order_key", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending|delivered|failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", UTCDateTime),
    sa.Column("claimed_by", sa.String(128)),
    sa.Column("claimed_at", UTCDateTime),
    sa.Column("last_reply", sa.String(1000)),
    sa.Column("delivered_at", UTCDateTime),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # a claim reads an endpoint's pending rows in id order; the order check reads a key's
    sa.Index("ix_webhook_deliveries_claim", "status", "url", "id"),
    sa.Index("ix_webhook_deliveries_order", "url", "order_key", "status", "id"),
)

api_tokens = sa.Table(  # migration 11: bearer tokens of the JSON API (/api/v1)
    "api_tokens", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),  # sha256 hex
    sa.Column("scopes", sa.JSON, nullable=False),  # e.g. ["subscribers:read"]
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime),  # updated at most once a minute
    sa.Column("revoked_at", UTCDateTime),  # NULL: valid
)

# migration 14: aggregate readership counters (publisher.analytics), one row per period
# ('YYYY-MM-DD' in the site's zone, or 'YYYY-MM' once `db prune` has summed the days) and
# feed or page: no column ever holds an address, a User-Agent or a subscriber.
feed_fetches = sa.Table(
    "feed_fetches", metadata,
    sa.Column("period", sa.String(10), primary_key=True),
    sa.Column("feed", sa.String(300), primary_key=True),  # its path: /feed.atom
    sa.Column("fetches", sa.Integer, nullable=False, default=0),
    # fetchers other than aggregators and crawlers, each counted once a day (a month row:
    # the sum of its days)
    sa.Column("other_fetchers", sa.Integer, nullable=False, default=0),
)

feed_aggregators = sa.Table(  # migration 14: the subscribers an aggregator reports
    "feed_aggregators", metadata,
    sa.Column("period", sa.String(10), primary_key=True),
    sa.Column("feed", sa.String(300), primary_key=True),
    sa.Column("aggregator", sa.String(40), primary_key=True),  # its name: Feedly
    sa.Column("subscribers", sa.Integer, nullable=False),  # its latest report in the period
    sa.Column("reported_at", UTCDateTime, nullable=False),
)

page_views = sa.Table(  # migration 14: browser views of each issue page
    "page_views", metadata,
    sa.Column("period", sa.String(10), primary_key=True),
    sa.Column("page", sa.String(300), primary_key=True),  # its path: /issues/<slug>/
    sa.Column("views", sa.Integer, nullable=False, default=0),
)

log_ingests = sa.Table(  # migration 14: how far `analytics ingest` has read access logs
    "log_ingests", metadata,
    sa.Column("source", sa.String(32), primary_key=True),  # access_log
    sa.Column("last_at", UTCDateTime, nullable=False),  # the newest line counted
    # how many lines of that very second were counted: the rest of it, logged after the
    # ingest read the file, is counted by the next one
    sa.Column("lines_at_last", sa.Integer, nullable=False, server_default="0"),
)

# migration 16: aggregate link clicks. `links` numbers the links of a send's email (written
# when a send with clicks on starts); `link_clicks` counts their clicks per period, the
# prefetches of link scanners apart. No column names a reader, an address or a User-Agent.
links = sa.Table(
    "links", metadata,
    sa.Column("send_id", sa.Integer, primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),  # 1, 2, … in order of first appearance
    sa.Column("url", sa.Text, nullable=False),  # the link's target as the issue wrote it
)

link_clicks = sa.Table(
    "link_clicks", metadata,
    sa.Column("period", sa.String(10), primary_key=True),
    sa.Column("send_id", sa.Integer, primary_key=True),
    sa.Column("link", sa.Integer, primary_key=True),  # links.number
    sa.Column("clicks", sa.Integer, nullable=False, default=0),
    sa.Column("prefetches", sa.Integer, nullable=False, default=0),
)

# Who may write each table (insert, update, delete): the modules named here and nowhere
# else, kept by tests/test_table_owners.py. Other modules read through SELECTs or call the
# owners' functions; the migrations below, which create and reshape tables, are exempt.
_OUTBOX = ("publisher.sending.outbox", "publisher.sending.control", "publisher.sending.retention",
           "publisher.sending.enrolment", "publisher.sending.oneoff")
_STORE = ("publisher.subscribers.store",)
_ACCOUNTS = ("publisher.accounts",)
_ANALYTICS = ("publisher.analytics.counters",)
TABLE_OWNERS: dict[str, tuple[str, ...]] = {
    schema_version.name: ("publisher.db",),  # upgrade() records each migration
    subscriber_table.name: _STORE,
    subscriber_events.name: _STORE,
    suppressions.name: _STORE,
    sends.name: _OUTBOX,
    deliveries.name: _OUTBOX,
    leases.name: (),  # made by migration 1; no module writes it
    bounce_reports.name: ("publisher.sending.returned_mail",),
    admin_users.name: _ACCOUNTS,
    admin_sessions.name: _ACCOUNTS,
    automation_steps.name: ("publisher.sending.enrolment",),
    webhook_endpoints.name: ("publisher.events",),
    webhook_events.name: ("publisher.events",),
    webhook_deliveries.name: ("publisher.events", "publisher.sending.webhooks"),
    api_tokens.name: ("publisher.api_tokens",),
    feed_fetches.name: _ANALYTICS,
    feed_aggregators.name: _ANALYTICS,
    page_views.name: _ANALYTICS,
    log_ingests.name: _ANALYTICS,
    links.name: _ANALYTICS,
    link_clicks.name: _ANALYTICS,
}

Migration = Callable[[Connection], None]


def _initial_schema(conn: Connection) -> None:
    # A new database gets today's tables; later migrations then find nothing to add.
    metadata.create_all(conn, tables=[subscriber_table, subscriber_events, suppressions, sends,
                                      deliveries, leases, bounce_reports, admin_users,
                                      admin_sessions, automation_steps, webhook_endpoints,
                                      webhook_events, webhook_deliveries, api_tokens,
                                      *ANALYTICS_TABLES, *CLICK_TABLES])


def _add_column(conn: Connection, table: str, column: str, ddl_type: str) -> None:
    existing = {c["name"] for c in sa.inspect(conn).get_columns(table)}
    if column not in existing:
        conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column} {ddl_type}"))


def _sends_content(conn: Connection) -> None:
    _add_column(conn, "sends", "content", "JSON")


def _bounce_reports(conn: Connection) -> None:
    metadata.create_all(conn, tables=[bounce_reports])


def _control_and_retention(conn: Connection) -> None:
    moment = str(sa.DateTime(timezone=True).compile(dialect=conn.dialect))
    for column, ddl_type in (("paused_at", moment), ("cancelled_at", moment),
                             ("pruned_at", moment), ("summary", "JSON")):
        _add_column(conn, "sends", column, ddl_type)
    metadata.create_all(conn, tables=[admin_users, admin_sessions])


def _audiences_and_windows(conn: Connection) -> None:
    moment = str(sa.DateTime(timezone=True).compile(dialect=conn.dialect))
    _add_column(conn, "subscribers", "timezone", "VARCHAR(64)")
    _add_column(conn, "sends", "kind", "VARCHAR(16)")
    _add_column(conn, "sends", "audience", "VARCHAR(1000)")
    _add_column(conn, "deliveries", "not_before", moment)


def _claim_index(conn: Connection) -> None:
    conn.execute(sa.text("CREATE INDEX IF NOT EXISTS ix_deliveries_send_state "
                         "ON deliveries (send_id, status, id)"))


def _automation_switches(conn: Connection) -> None:
    moment = str(sa.DateTime(timezone=True).compile(dialect=conn.dialect))
    _add_column(conn, "subscribers", "automations_at", moment)
    # Everyone confirmed so far entered the automations when they confirmed, as before.
    conn.execute(sa.text("UPDATE subscribers SET automations_at = confirmed_at "
                         "WHERE automations_at IS NULL"))
    metadata.create_all(conn, tables=[automation_steps])
    # Existing steps keep the window they had: anchored where their send began.
    conn.execute(sa.text("INSERT INTO automation_steps (slug, live_since) SELECT issue_slug, "
                         "created_at FROM sends WHERE kind = 'automation' AND issue_slug NOT IN "
                         "(SELECT slug FROM automation_steps)"))


def _lost_claims(conn: Connection) -> None:
    _add_column(conn, "deliveries", "lost_claims", "INTEGER NOT NULL DEFAULT 0")


def _ids_never_reused(conn: Connection) -> None:
    """SQLite: rebuild `subscribers` with AUTOINCREMENT and start its sequence above every
    id ever given (events and deliveries keep those of erased readers)."""
    if conn.dialect.name != "sqlite":
        return
    create = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' "
                                  "AND name = 'subscribers'")).scalar_one()
    if "AUTOINCREMENT" not in str(create).upper():
        columns = ", ".join(c["name"] for c in sa.inspect(conn).get_columns("subscribers"))
        conn.execute(sa.text("ALTER TABLE subscribers RENAME TO subscribers_before_7"))
        for index in sa.inspect(conn).get_indexes("subscribers_before_7"):
            conn.execute(sa.text(f"DROP INDEX IF EXISTS {index['name']}"))
        metadata.create_all(conn, tables=[subscriber_table])
        conn.execute(sa.text(f"INSERT INTO subscribers ({columns}) "
                             f"SELECT {columns} FROM subscribers_before_7"))
        conn.execute(sa.text("DROP TABLE subscribers_before_7"))
    highest = conn.execute(sa.text(
        "SELECT max(coalesce((SELECT max(id) FROM subscribers), 0), "
        "coalesce((SELECT max(subscriber_id) FROM subscriber_events), 0), "
        "coalesce((SELECT max(subscriber_id) FROM deliveries), 0))")).scalar_one()
    conn.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = 'subscribers'"))
    conn.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('subscribers', :seq)"),
                 {"seq": int(highest)})


def _webhooks(conn: Connection) -> None:
    metadata.create_all(conn, tables=[webhook_endpoints, webhook_events, webhook_deliveries])


def _api_tokens(conn: Connection) -> None:
    metadata.create_all(conn, tables=[api_tokens])


def _reader_languages(conn: Connection) -> None:
    _add_column(conn, "subscribers", "language", "VARCHAR(35)")


def _delivery_languages(conn: Connection) -> None:
    _add_column(conn, "deliveries", "language", "VARCHAR(35)")


ANALYTICS_TABLES = (feed_fetches, feed_aggregators, page_views, log_ingests)


def _analytics(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(ANALYTICS_TABLES))


def _delivery_strings_languages(conn: Connection) -> None:
    _add_column(conn, "deliveries", "strings_language", "VARCHAR(35)")


CLICK_TABLES = (links, link_clicks)


def _link_clicks(conn: Connection) -> None:
    metadata.create_all(conn, tables=list(CLICK_TABLES))


MIGRATIONS: list[tuple[int, str, Migration]] = [
    (1, "subscribers, events, suppressions, sends, deliveries, leases", _initial_schema),
    (2, "sends.content: the rendered email frozen at the start of a send", _sends_content),
    (3, "bounce_reports: reports and unsubscribe mails that could not be verified",
     _bounce_reports),
    (4, "send pause/cancel, retention summaries, operator console accounts and sessions",
     _control_and_retention),
    (5, "subscriber time zones, send kinds and audiences, per-delivery not-before times",
     _audiences_and_windows),
    (6, "an index on deliveries (send_id, status, id): claims read their batch off it",
     _claim_index),
    (7, "subscriber ids are never reused: AUTOINCREMENT on SQLite", _ids_never_reused),
    (8, "deliveries.lost_claims: claims of a row whose process stopped before settling it",
     _lost_claims),
    (9, "subscribers.automations_at and automation_steps: who is enrolled, steps switched off",
     _automation_switches),
    (10, "webhook_endpoints, webhook_events, webhook_deliveries: signed webhooks", _webhooks),
    (11, "api_tokens: hashed bearer tokens of the JSON API, with their scopes", _api_tokens),
    (12, "subscribers.language: the language each reader reads in", _reader_languages),
    (13, "deliveries.language: the language of the edition each row gets",
     _delivery_languages),
    (14, "feed_fetches, feed_aggregators, page_views, log_ingests: readership counters",
     _analytics),
    (15, "deliveries.strings_language: the reader's language of an original's fixed strings",
     _delivery_strings_languages),
    (16, "links, link_clicks: aggregate link clicks of a send's email", _link_clicks),
]


# How long one statement waits for another process's SQLite write lock; longer waits are
# retried by publisher.outage within [database] outage_seconds.
SQLITE_BUSY_SECONDS = 5


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for a SQLite (WAL) or PostgreSQL URL (postgresql+psycopg://...)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})


def current_version(conn: Connection) -> int:
    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    value = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    return int(value or 0)


def upgrade(engine: Engine, clock: Clock = utc_now) -> list[int]:
    """Apply pending migrations in order; return the versions applied."""
    applied: list[int] = []
    with engine.begin() as conn:
        metadata.create_all(conn, tables=[schema_version])
        if current_version(conn) >= MIGRATIONS[-1][0]:
            return applied  # the usual case, in one transaction
    for version, _description, migrate in MIGRATIONS:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Serialise concurrent upgraders (several workers starting at once).
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(724061)"))
            if current_version(conn) >= version:
                continue
            migrate(conn)
            conn.execute(schema_version.insert().values(version=version, applied_at=clock()))
            applied.append(version)
    return applied


def open_database(url: str, outage_seconds: float = 0.0) -> Engine:
    """Engine with the schema brought up to date (migrations run automatically on first use);
    a database that is down at start is waited for up to `outage_seconds`."""
    engine = make_engine(url)
    upgrade_when_reachable(engine, outage_seconds)
    return engine


def upgrade_when_reachable(engine: Engine, outage_seconds: float) -> None:
    """Apply pending migrations, waiting up to `outage_seconds` for a database that is down."""
    retry(partial(upgrade, engine), RetryPolicy(outage_seconds))


def database_exists(config: Config) -> bool:
    """Whether the configured database is there (PostgreSQL, or a SQLite file that exists),
    for commands that only compare with what was stored."""
    url = sa.engine.make_url(config.database_url)
    return url.get_backend_name() != "sqlite" or bool(url.database and Path(url.database).is_file())
