"""/api/v1/sends against the running server, on SQLite and PostgreSQL: list, one send's
counts and state, its report (the very document of `publisher report --json`), and pause,
resume and cancel refused as the CLI refuses them, in the CLI's words, as 409 problems."""

from __future__ import annotations

import json

from publisher.mail.rendered import RenderedEmail
from publisher.sending import control, oneoff, outbox
from tests.api.conftest import Api
from tests.cli import run_publisher_here
from tests.sending.helpers import add_confirmed

SLUG = "2026-03-api"


def started(api: Api, readers: int = 3) -> int:
    """A send of SLUG to `readers` confirmed readers, nothing sent yet."""
    add_confirmed(api.engine, readers)
    rendered = RenderedEmail(SLUG, "Issue of March", "en", "<p>Hello</p>", "Hello")
    return outbox.start_send(api.engine, "tag:api", rendered, api.state.clock())


def test_sends_list_one_and_report_as_the_cli_says(api: Api) -> None:
    send_id = started(api)
    with api.client(api.token("reader", ("sends:read",))) as client:
        listed = client.get("/sends").json()
        one = client.get(f"/sends/{send_id}").json()
        report = client.get(f"/sends/{send_id}/report").json()
        missing = [client.get(f"/sends/{send_id + 1}"), client.get("/sends/0"),
                   client.get("/sends/x/report"), client.get(f"/sends/{2**40}")]
    cli = run_publisher_here(api.config_file, "report", SLUG, "--json")
    assert [item["issue"] for item in listed["items"]] == [SLUG]
    assert one["state"] == "sending" and one["total"] == one["remaining"] == 3
    assert one["counts"]["queued"] == 3
    expected = json.loads(cli.stdout)
    for moving in ("rate_per_second", "eta_seconds"):  # measured at the moment asked
        assert report.pop(moving) == expected.pop(moving)
    assert report == expected
    assert [m.status_code for m in missing] == [404] * 4


def test_pause_resume_cancel_with_the_clis_refusals(api: Api) -> None:
    send_id = started(api)
    with api.client(api.token()) as client:
        paused = client.post(f"/sends/{send_id}/pause")
        paused_again = client.post(f"/sends/{send_id}/pause")
        resumed = client.post(f"/sends/{send_id}/resume")
        resumed_again = client.post(f"/sends/{send_id}/resume")
        cancelled = client.post(f"/sends/{send_id}/cancel")
        after_cancel = [client.post(f"/sends/{send_id}/{verb}")
                        for verb in ("pause", "resume", "cancel")]
        missing = client.post(f"/sends/{send_id + 1}/pause")
    assert paused.status_code == 200 and paused.json()["state"] == "paused"
    assert paused_again.status_code == 409
    assert paused_again.json()["detail"] == (
        f"{SLUG} is paused: only a sending send can be paused; {SLUG} is paused: 0 sent, "
        f"3 left; `publisher resume {SLUG}` continues it")
    assert resumed.json()["state"] == "sending"
    assert resumed_again.status_code == 409
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["counts"]["cancelled"] == 3
    assert [a.status_code for a in after_cancel] == [409, 409, 409]
    refused = run_publisher_here(api.config_file, "cancel", SLUG, "--yes")
    assert after_cancel[2].json()["detail"] == refused.stderr.removeprefix("Error: ").strip()
    assert after_cancel[2].json()["detail"].startswith(
        f"{SLUG} is cancelled: only a sending or paused send can be cancelled; ")
    assert missing.status_code == 404
    assert outbox.counts(api.engine, send_id)["cancelled"] == 3


def test_the_standing_send_of_confirmation_mails_cannot_be_paused_or_cancelled(
        api: Api) -> None:
    with api.client(api.token()) as client:
        asked = client.post("/subscribers", json={"email": "waiting@example.org"})
        send_id = outbox.find_send(api.engine, oneoff.CONFIRM)
        assert asked.status_code == 202 and send_id is not None
        refused = [client.post(f"/sends/{send_id}/{verb}") for verb in ("pause", "cancel")]
    assert [answer.status_code for answer in refused] == [409, 409]
    assert refused[0].json()["detail"] == (
        f"{oneoff.CONFIRM}: the one-off mails (confirmations) are not a send to steer; each "
        "is retried until it goes or gives up")
    assert outbox.send_slugs(api.engine) >= {oneoff.CONFIRM}
    assert control.send_state(api.engine, send_id) == outbox.SEND_ACTIVE
