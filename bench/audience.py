"""Starting a send with an audience over N confirmed subscribers in SQLite (default
1,000,000, each with random tags): the snapshot stays one INSERT … SELECT, so its time sits
beside the unfiltered snapshot's and the process's peak memory does not grow with N.

  (a) start_send, every confirmed subscriber (the baseline, same run, same file)
  (b) start_send with `--audience` (default `llm and not weekly-off`)
  (c) a naive resolution for contrast: read every subscriber's tags into Python and
      evaluate the expression there (no insert at all)

Each runs in its own process on its own copy of the database, so each peak RSS
(ru_maxrss) is that step's alone; the statements start_send issues are recorded and the
script fails unless exactly one of them writes deliveries, as INSERT … SELECT.

    python bench/audience.py [--subscribers 1000000] [--audience "llm and not weekly-off"]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "issues" / "2024-06-first-half.md"
NOW = datetime(2024, 6, 16, 1, 0, tzinfo=UTC)
TAG_SHARE = {"llm": 0.5, "agents": 0.3, "weekly-off": 0.2, "中文": 0.4, "vision": 0.1}
CHUNK = 20_000


def populate(db: Path, count: int) -> None:
    """N confirmed subscribers, tags drawn with TAG_SHARE (fixed seed), in 20,000-row chunks."""
    from publisher.db import open_database, subscriber_table

    engine = open_database(f"sqlite:///{db}")
    chooser = random.Random(16)
    for first in range(0, count, CHUNK):
        rows = [{"email": f"u{n}@example.net", "email_key": f"u{n}@example.net", "name": "",
                 "status": "confirmed", "created_at": NOW, "updated_at": NOW,
                 "tags": [t for t, share in TAG_SHARE.items() if chooser.random() < share],
                 "confirmed_at": NOW, "consent_at": NOW, "consent_source": "import",
                 "bounce_count": 0} for n in range(first, min(count, first + CHUNK))]
        with engine.begin() as conn:
            conn.execute(subscriber_table.insert(), rows)
    engine.dispose()


def config_for(db: Path) -> Any:
    from publisher.config import AudienceConfig, load_config

    base = load_config(REPO)
    settings = base.settings
    return replace(base, settings=settings.model_copy(update={
        "database": settings.database.model_copy(update={"url": f"sqlite:///{db}"}),
        "audience": AudienceConfig(tags=list(TAG_SHARE))}))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def snapshot(db: Path, audience: str | None) -> dict[str, Any]:
    """One start_send, its statements recorded; run in a child process."""
    import sqlalchemy as sa

    from publisher.db import open_database
    from publisher.sending.send_issue import ready, start

    config = config_for(db)
    engine = open_database(config.database_url)
    item = ready(config, SEED)
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: statements.append(statement))
    before = peak_mb()
    started = time.perf_counter()
    send_id = start(engine, config, item, NOW, audience=audience)
    seconds = time.perf_counter() - started
    writes = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO DELIVERIES")]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM deliveries WHERE send_id = :s"),
                            {"s": send_id}).scalar_one()
    return {"seconds": seconds, "rows": int(rows), "statements": len(statements),
            "insert_selects": sum(" SELECT " in " ".join(s.split()) for s in writes),
            "delivery_writes": len(writes), "peak_before_mb": before, "peak_mb": peak_mb()}


def naive(db: Path, audience: str) -> dict[str, Any]:
    """Every confirmed subscriber's tags read into Python and matched there."""
    import sqlalchemy as sa

    from publisher.content.audience_expressions import matches, parse
    from publisher.db import open_database, subscriber_table

    engine = open_database(f"sqlite:///{db}")
    expr = parse(audience)
    before = peak_mb()
    started = time.perf_counter()
    with engine.connect() as conn:
        found = conn.execute(sa.select(subscriber_table.c.id, subscriber_table.c.tags)
                             .where(subscriber_table.c.status == "confirmed")).all()
    chosen = [sid for sid, tags in found if matches(expr, set(tags))]
    return {"seconds": time.perf_counter() - started, "rows": len(chosen),
            "peak_before_mb": before, "peak_mb": peak_mb()}


def child(step: str, db: Path, audience: str) -> dict[str, Any]:
    """Run one step in a fresh process, on its own copy of the database."""
    copy = db.with_name(f"{step}.db")
    shutil.copyfile(db, copy)
    output = subprocess.run([sys.executable, __file__, "--child", step, str(copy),
                             "--audience", audience], check=True, capture_output=True,
                            text=True).stdout
    copy.unlink()
    return dict(json.loads(output.strip().splitlines()[-1]))


def report(count: int, audience: str, everyone: dict[str, Any], narrowed: dict[str, Any],
           python: dict[str, Any]) -> None:
    for name, step in (("everyone", everyone), ("audience", narrowed)):
        if step["delivery_writes"] != 1 or step["insert_selects"] != 1:
            raise SystemExit(f"{name}: expected one INSERT … SELECT into deliveries, "
                             f"got {step['delivery_writes']} writes")
    if python["rows"] != narrowed["rows"]:
        raise SystemExit(f"audience snapshot {narrowed['rows']} rows, Python {python['rows']}")
    lines = [
        f"{count:,} confirmed subscribers; audience `{audience}` matches {narrowed['rows']:,}",
        f"(a) start_send, everyone   {everyone['seconds']:7.2f} s  {everyone['rows']:>9,} rows  "
        f"peak RSS {everyone['peak_before_mb']:.0f} -> {everyone['peak_mb']:.0f} MB  "
        f"({everyone['statements']} statements, 1 INSERT … SELECT)",
        f"(b) start_send, audience   {narrowed['seconds']:7.2f} s  {narrowed['rows']:>9,} rows  "
        f"peak RSS {narrowed['peak_before_mb']:.0f} -> {narrowed['peak_mb']:.0f} MB  "
        f"({narrowed['statements']} statements, 1 INSERT … SELECT)",
        f"(c) naive: tags into Python {python['seconds']:6.2f} s  {python['rows']:>9,} ids   "
        f"peak RSS {python['peak_before_mb']:.0f} -> {python['peak_mb']:.0f} MB  (no insert)",
        f"audience / everyone time: {narrowed['seconds'] / everyone['seconds']:.2f}x",
    ]
    print("\n".join(lines))  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--audience", default="llm and not weekly-off")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "DB"))
    args = parser.parse_args()
    if args.child:
        step, db = args.child[0], Path(args.child[1])
        result = (naive(db, args.audience) if step == "naive"
                  else snapshot(db, args.audience if step == "audience" else None))
        print(json.dumps(result))  # noqa: T201
        return
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "subscribers.db"
        started = time.perf_counter()
        populate(db, args.subscribers)
        print(f"populated {args.subscribers:,} subscribers in "  # noqa: T201
              f"{time.perf_counter() - started:.1f} s")
        report(args.subscribers, args.audience, child("everyone", db, args.audience),
               child("audience", db, args.audience), child("naive", db, args.audience))


if __name__ == "__main__":
    main()
