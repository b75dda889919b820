"""DKIM signing rate on the seed edition as sent (one personalised message of ~170 KB):
dkimpy's own rsa-sha256 (pure-Python RSA) as the baseline, publisher's rsa-sha256
(dkimpy canonicalisation + OpenSSL) and ed25519-sha256, in this run, on one core.

    python bench/dkim_rate.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization

from publisher.config import Secrets, load_config
from publisher.mail.dkim_signing import DkimKey, generate, make_signer
from publisher.mail.mime import Recipient
from publisher.sending.drain import make_job
from publisher.sending.send_issue import ready

REPO = Path(__file__).resolve().parent.parent
NOW = datetime(2024, 6, 16, tzinfo=UTC)


def rate(action: Callable[[], object], seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        action()
        count += 1
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    seconds = parser.parse_args().seconds
    config = load_config(REPO)
    config = replace(config, settings=config.settings.model_copy(update={
        "paths": config.settings.paths.model_copy(update={"output": "/tmp/bench-dkim"})}))
    item = ready(config, REPO / "issues/2024-06-first-half.md")
    job = make_job(1, "tag:x,2024:bench", item.rendered, config,
                   Secrets(secret_keys=("bench-secret-key-0123456",)), NOW)
    message = job.builder.prepared.personalise(job.builder.personaliser.values(
        Recipient(1, "reader@example.net", "读者")))
    rsa_key = DkimKey("s1", "example.org", generate("rsa", 2048))
    ed_key = DkimKey("s2", "example.org", generate("ed25519"))
    pem = rsa_key.key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption())
    headers = [b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
               b"content-type", b"list-id", b"list-unsubscribe", b"list-unsubscribe-post"]
    baseline = rate(lambda: dkim.sign(message, b"s1", b"example.org", pem,
                                      include_headers=headers), seconds)
    fast_rsa = rate(lambda: make_signer([rsa_key], lambda: NOW)(message), seconds)
    fast_ed = rate(lambda: make_signer([ed_key], lambda: NOW)(message), seconds)
    both = rate(lambda: make_signer([rsa_key, ed_key], lambda: NOW)(message), seconds)
    print(f"message: {len(message):,} bytes")
    print(f"{'signer':<44} {'signatures/s':>13} {'vs dkimpy':>10}")
    for label, value in (("dkimpy rsa-sha256 2048 (baseline)", baseline),
                         ("publisher rsa-sha256 2048 (OpenSSL)", fast_rsa),
                         ("publisher ed25519-sha256", fast_ed),
                         ("publisher rsa + ed25519 (two signatures)", both)):
        print(f"{label:<44} {value:>13,.0f} {value / baseline:>9.1f}x")


if __name__ == "__main__":
    main()
