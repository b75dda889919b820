"""What one `publisher` invocation shares between its verbs: the config, the secrets, the
database engine and the clock.

`cli.main` makes one Context and hands it to every command (`@click.pass_obj`). Secrets are
read from the environment on first use, so a verb that needs none runs without them; the
engine is made on first use too, once per invocation, and disposed when the command ends;
opening it brings the schema up to date and the stored webhook endpoints in line with the
config, so what a verb changes is reported to the endpoints configured now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from publisher import events
from publisher.clock import Clock, utc_now
from publisher.config import Config, Secrets, load_secrets
from publisher.db import database_exists, make_engine, upgrade_when_reachable


@dataclass
class Context:
    """The config, plus the secrets and the engine made once on first use."""

    config: Config
    clock: Clock = utc_now
    environ: Mapping[str, str] = field(default_factory=dict)  # cli.main passes os.environ
    _secrets: Secrets | None = field(default=None, init=False, repr=False)
    _engine: Engine | None = field(default=None, init=False, repr=False)
    _upgraded: bool = field(default=False, init=False, repr=False)

    @property
    def secrets(self) -> Secrets:
        """The secrets in the environment, read at the first use."""
        if self._secrets is None:
            self._secrets = load_secrets(self.environ)
        return self._secrets

    def require_signing_key(self) -> Secrets:
        """The secrets, refused in one line (MISSING_SECRET_KEY) when no signing key is set."""
        self.secrets.require_signing_key()
        return self.secrets

    @property
    def bare_engine(self) -> Engine:
        """The configured database as it is, schema untouched: for `db upgrade`, which says
        what it applies, and the daemon, which waits for a database that is down."""
        if self._engine is None:
            self._engine = make_engine(self.config.database_url)
        return self._engine

    @property
    def engine(self) -> Engine:
        """The configured database, its schema brought up to date and its webhook endpoints
        made the config's (publisher.events.sync_configured) on first use."""
        if not self._upgraded:
            upgrade_when_reachable(self.bare_engine,
                                   self.config.settings.database.outage_seconds)
            events.sync_configured(self.bare_engine, self.config.webhook_endpoints,
                                   self.clock())
            self._upgraded = True
        return self.bare_engine

    def stored_engine(self) -> Engine | None:
        """The configured database when there is one; None when nothing was stored yet."""
        return self.engine if database_exists(self.config) else None

    def close(self) -> None:
        """Dispose of the engine, if one was made (the invocation is over)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
            self._upgraded = False
