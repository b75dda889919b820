"""The SMTP client alone, one process, 16 reused connections into Postfix's smtp-sink, an
80 KB CRLF message of Chinese UTF-8 text: messages/s and CPU per message for

  (i)   aiosmtplib `sendmail` (three regex passes over the message per send)
  (ii)  publisher's transaction, lock-step (smtp-sink -p: PIPELINING not offered)
  (iii) publisher's transaction, pipelined (MAIL, RCPT, DATA in one write)

    python bench/smtp_client.py [--count 6000] [--connections 16]
    python bench/smtp_client.py --profile   # (i) under cProfile: where aiosmtplib's time goes
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from publisher.mail.smtp import Kind, deliver  # noqa: E402
from publisher.mail.wire import Outgoing, unstuffed  # noqa: E402
from tests.mail.messages import SENDER, connection, message  # noqa: E402
from tests.servers import smtp_sink  # noqa: E402

Worker = Callable[[int, Outgoing, int], Awaitable[None]]


async def aiosmtplib_worker(port: int, outgoing: Outgoing, count: int) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False, start_tls=False)
    await client.connect()
    await client.ehlo()
    data = unstuffed(outgoing)
    for n in range(count):
        await client.sendmail(SENDER, [f"reader{n}@example.net"], data,
                              mail_options=["BODY=8BITMIME"])
    await client.quit()


async def publisher_worker(port: int, outgoing: Outgoing, count: int) -> None:
    pool = connection(port)
    for n in range(count):
        reply = await deliver(pool, SENDER, f"reader{n}@example.net", outgoing)
        if reply.kind is not Kind.SENT:
            raise RuntimeError(f"smtp-sink refused: {reply.text}")
    await pool.close()


def run(worker: Worker, sink_options: tuple[str, ...], count: int,
        connections: int) -> tuple[float, float]:
    """(messages/s, CPU ms per message) for `count` messages over `connections`."""
    outgoing = message()

    async def all_connections(port: int) -> None:
        await asyncio.gather(*(worker(port, outgoing, count // connections)
                               for _ in range(connections)))

    with smtp_sink(*sink_options) as port:
        wall, cpu = time.perf_counter(), time.process_time()
        asyncio.run(all_connections(port))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sent = count // connections * connections
    return sent / wall, cpu / sent * 1000


def profile(count: int, connections: int) -> None:
    """(i) under cProfile: the functions with the most time of their own, and re.sub's share."""
    profiler = cProfile.Profile()
    profiler.runcall(run, aiosmtplib_worker, (), count, connections)
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    resub = sum(entry[2] for (_, _, name), entry in stats.stats.items()  # type: ignore[attr-defined]
                if name == "<method 'sub' of 're.Pattern' objects>")
    print(f"re.Pattern.sub: {resub:.2f} s of {total:.2f} s profiled ({resub / total:.0%})")
    stats.sort_stats("tottime").print_stats(8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=6000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--profile", action="store_true", help="profile (i) only")
    args = parser.parse_args()
    if args.profile:
        profile(args.count // 2, args.connections)
        return
    print(f"message: {len(message().data)} bytes; {args.count} messages, "
          f"{args.connections} connections, one process")
    rows = [("(i) aiosmtplib sendmail", run(aiosmtplib_worker, (), args.count,
                                            args.connections)),
            ("(ii) transaction, lock-step", run(publisher_worker, ("-p",), args.count,
                                                args.connections)),
            ("(iii) transaction, pipelined", run(publisher_worker, (), args.count,
                                                 args.connections))]
    print(f"{'client':32} {'messages/s':>11} {'CPU ms/message':>15}")
    for name, (rate, cpu) in rows:
        print(f"{name:32} {rate:11.0f} {cpu:15.3f}")
    base_rate, base_cpu = rows[0][1]
    for name, (rate, cpu) in rows[1:]:
        print(f"{name} / (i): {rate / base_rate:.2f}x messages/s, "
              f"{base_cpu / cpu:.2f}x less CPU per message")


if __name__ == "__main__":
    main()
