"""One Context per `publisher` invocation: secrets read once when first needed, one engine
made on first use and disposed when the command ends, the signing key refused in one line."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from publisher.commands.context import Context
from publisher.config import MISSING_SECRET_KEY, Config
from publisher.errors import ConfigError

KEY = "k" * 32


def test_secrets_are_read_once_at_first_use_and_never_before(seed_config: Config) -> None:
    environ = {"PUBLISHER_SECRET_KEY": KEY}
    context = Context(seed_config, environ=environ)
    environ["PUBLISHER_SECRET_KEY"] = "too short"  # read at first use, not when made
    with pytest.raises(ConfigError):
        _ = context.secrets
    environ["PUBLISHER_SECRET_KEY"] = KEY
    assert context.secrets.secret_keys == (KEY,)
    environ["PUBLISHER_SECRET_KEY"] = "k" * 40
    assert context.secrets.secret_keys == (KEY,)  # once read, kept for the invocation


def test_require_signing_key_refuses_with_the_missing_secret_key_line(
        seed_config: Config) -> None:
    with pytest.raises(ConfigError) as refused:
        Context(seed_config, environ={}).require_signing_key()
    assert refused.value.message == MISSING_SECRET_KEY
    given = Context(seed_config, environ={"PUBLISHER_SECRET_KEY": KEY}).require_signing_key()
    assert given.signing_key == KEY


def test_one_engine_per_invocation_with_its_schema_up_to_date_and_disposed_at_exit(
        seed_config: Config) -> None:
    seen: list[Context] = []

    @click.command()
    @click.pass_obj
    def twice(context: Context) -> None:
        assert context.engine is context.engine is context.bare_engine
        seen.append(context)

    @click.group()
    @click.pass_context
    def group(ctx: click.Context) -> None:
        context = Context(seed_config)
        ctx.call_on_close(context.close)
        ctx.obj = context

    group.add_command(twice)
    assert CliRunner().invoke(group, ["twice"], catch_exceptions=False).exit_code == 0
    assert Path(seed_config.database_url.removeprefix("sqlite:///")).is_file()
    assert seen[0]._engine is None  # disposed when the command ended


def test_no_stored_engine_before_the_database_exists(seed_config: Config) -> None:
    (seed_config.root / "publisher.db").unlink()  # a seed site starts with one: not this
    context = Context(seed_config)
    assert context.stored_engine() is None
    _ = context.engine  # makes the SQLite file and brings its schema up to date
    assert context.stored_engine() is context.engine
