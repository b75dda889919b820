"""The receiver docs/webhooks.md shows is run, exactly as written, against a real delivery:
it accepts the signature with either secret of a rotation and refuses a wrong secret, a
changed body and an old timestamp."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from publisher.clock import utc_now
from publisher.config import Config
from publisher.db import open_database
from publisher.sending import webhooks
from publisher.subscribers import store
from publisher.subscribers.store import Consent
from tests.conftest import REPO
from tests.webhooks.helpers import SECRET_ENV, Clock, with_webhooks
from tests.webhooks.receiver import Receiver


def page_receiver() -> Callable[..., bool]:
    """The `verify` function of the page's "Verifying a delivery" code block."""
    page = (REPO / "docs" / "webhooks.md").read_text(encoding="utf-8")
    section = page.split("### Verifying a delivery", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, flags=re.S)
    assert code is not None
    assert len(code[1].strip().splitlines()) <= 11, "the page promises about ten lines"
    namespace: dict[str, Any] = {}
    exec(compile(code[1], "docs/webhooks.md", "exec"), namespace)  # noqa: S102
    verify: Callable[..., bool] = namespace["verify"]
    return verify


def test_the_pages_receiver_verifies_a_real_delivery(
    seed_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "old-secret new-secret")
    verify = page_receiver()
    url = f"sqlite:///{seed_config.root / 'hooks.db'}"
    with Receiver() as receiver:
        config = with_webhooks(seed_config, url, receiver.url)
        delivery = webhooks.Deliverer(open_database(url), config, Clock(utc_now()))
        delivery.sync()
        with delivery.engine.begin() as conn:
            store.add(conn, "ada@example.org", None, store.CONFIRMED,
                      Consent("test", utc_now()), utc_now())
        delivery.run(None, time.monotonic)
    (request,) = receiver.received
    header = request.headers["publisher-signature"]
    assert verify(["new-secret"], header, request.body)
    assert verify(["old-secret"], header, request.body)
    assert not verify(["another-secret"], header, request.body)
    assert not verify(["new-secret"], header, request.body.replace(b"ada", b"eve"))
    old = re.sub(r"t=(\d+)", lambda m: f"t={int(m[1]) - 3600}", header)
    assert not verify(["new-secret"], old, request.body)


def test_the_readme_shows_the_same_receiver_as_the_webhooks_page() -> None:
    page = (REPO / "docs" / "webhooks.md").read_text(encoding="utf-8")
    shown = re.search(r"```python\n(.*?)```", page.split("### Verifying a delivery", 1)[1],
                      flags=re.S)
    readme = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"),
                        flags=re.S)
    assert shown is not None and readme == [shown[1]]
