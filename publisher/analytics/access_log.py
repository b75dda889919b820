"""Lines of an nginx access log in the combined format, parsed into what the tally needs.
Pure: text in, `Hit`s out; a line in another format is skipped, never an error.

    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    "$http_referer" "$http_user_agent"

The combined format records no `DNT` or `Sec-GPC` header: see docs/operations.md
("Analytics") for the nginx line that leaves those requests out of the log.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

_LINE = re.compile(
    r'^(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<target>\S+)'
    r'(?: [^"]*)?" (?P<status>\d{3}) \S+ "(?:[^"\\]|\\.)*" "(?P<ua>(?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")  # nginx writes a quote, a backslash, controls as \xHH


@dataclass(frozen=True)
class Hit:
    """One request as the counters see it (the address and User-Agent only pass through)."""

    at: datetime
    method: str
    path: str
    status: int
    ip: str
    user_agent: str
    opted_out: bool = False  # DNT: 1 or Sec-GPC: 1


def parse_line(line: str) -> Hit | None:
    """The request of one combined-format line; None for a line of another shape."""
    found = _LINE.match(line)
    if found is None:
        return None
    try:
        at = datetime.strptime(found["time"], "%d/%b/%Y:%H:%M:%S %z")  # nginx's $time_local
    except ValueError:
        return None
    user_agent = _ESCAPE.sub(lambda code: chr(int(code.group(1), 16)), found["ua"])
    return Hit(at, found["method"], found["target"], int(found["status"]), found["ip"],
               user_agent)


def parse_lines(lines: Iterable[str]) -> Iterator[Hit]:
    """The requests of the lines that are in the combined format, in the log's order."""
    for line in lines:
        hit = parse_line(line)
        if hit is not None:
            yield hit
