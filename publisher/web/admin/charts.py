"""Charts for the operator console: SVG drawn on the server with pygal, inlined in the page.

Pure functions: objects in, an SVG string out; no I/O, no clock, no randomness, so the same
data always gives the same bytes. The SVG is safe to inline under a CSP without scripts: no
`<script>`, no comment, no XML declaration, no link or external resource; its one `<style>`
is scoped by the chart's id. It reads on light and dark pages alike: transparent
background, text and axes in `currentColor` (the page's colour), series in the Okabe-Ito
palette, and a font stack with CJK fallbacks so Chinese labels render. Every point carries a
native `<title>` tooltip, which works without JavaScript.

Each chart is drawn at two sizes (`SIZES`): WIDE for a desktop page and NARROW for a phone,
where the wide one scaled down to 375 px would have 4 px labels. The page holds both and
its stylesheet shows one; the narrow one has a one-column legend and fewer, shorter axis
labels. Time labels fall on round steps (seconds, minutes, hours, days) chosen so that no
two read the same.

What a test (or the console's browser test) can count, for every chart:
- the root: `svg.publisher-chart` with id `chart-subscribers`, `chart-progress`,
  `chart-rates` or `chart-feeds` (`-narrow` appended at the narrow size), `role="img"` and
  an `aria-label` (its localised title);
- one plotted point: one `circle.dot` inside `g.series-<key>`, where the keys are
  subscribers: `confirmed`, `unsubscribed`, `bounced`, `complained` (daily counts) and
  `total-confirmed` (right axis), one point per day;
  progress: `sent`, one point per sample, and `total` (a dashed line, no dots);
  feeds: `feed-fetches` and `other-fetchers`, one point per day;
  rates: `bounce-rate` and `complaint-rate`, one point per send, and `bounce-limit` and
  `complaint-limit` (dashed `path.line`, no dots);
- a send over a limit: its point on the crossed rate is `circle.dot.over-limit` (red and
  larger) and its axis label starts with "⚠";
- no data: a `text.no_data` saying "No data yet" in the page's language.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import pygal
from lxml import etree
from pygal.style import Style

from publisher.analytics.figures import FeedDay
from publisher.i18n import N_, translator_for
from publisher.sending.reports import BOUNCE_RATE_LIMIT, COMPLAINT_RATE_LIMIT, SendSummary
from publisher.subscribers.activity import DayActivity

OVER_LIMIT_COLOUR = "#d7191c"
OVER_LIMIT = "over-limit"
FONTS = ('system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", '
         '"Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Hiragino Sans GB", '
         '"Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif')
SUBTLE = "rgba(128, 128, 128, .55)"  # grey reads on white and on near-black alike
STYLE = Style(
    background="transparent", plot_background="transparent", value_background="transparent",
    foreground="currentColor", foreground_strong="currentColor", foreground_subtle=SUBTLE,
    guide_stroke_color=SUBTLE, major_guide_stroke_color=SUBTLE,
    font_family=FONTS, label_font_size=12, major_label_font_size=12, legend_font_size=13,
    no_data_font_size=22, opacity=".85", stroke_width="2",
    # Okabe-Ito: distinguishable with colour-blindness, mid-tone on both backgrounds.
    colors=("#0072B2", "#E69F00", "#CC79A7", "#D55E00", "#009E73", "#56B4E9"),
)
# Each limit line in the colour of its rate (series 0 and 1; the limits are series 2 and 3).
RATES_STYLE = Style(**{**STYLE.to_dict(), "colors": ("#0072B2", "#E69F00") * 2})
DASHED = {"width": 2, "dasharray": "6,4"}


@dataclass(frozen=True)
class Size:
    """A size a chart is drawn at (SVG units, about CSS pixels where it is shown)."""

    name: str  # "wide" | "narrow"; the page's stylesheet shows `.chart-<name>` by width
    width: int
    height: int
    legend_columns: int
    x_labels: int  # at most this many labels on the x axis
    label_chars: int  # an axis label (a send's slug) is cut to this, with "…" (-1: never)

    @property
    def suffix(self) -> str:
        return "" if self.name == "wide" else f"-{self.name}"


# pygal sizes a bottom legend by floor(series / columns) rows: with fewer series than
# columns that is no row at all, and the legend is cut off. Two columns keep every chart
# here (2, 4 or 5 series) within what it reserves.
WIDE = Size("wide", 800, 360, 2, 7, -1)
NARROW = Size("narrow", 360, 420, 1, 5, 14)
SIZES = (WIDE, NARROW)
# Round steps for a time axis, in seconds: a label every 1 s … 30 days.
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
              43200, 86400, 172800, 604800, 2592000)


def _chart(kind: Callable[..., Any], name: str, title: str, keys: list[str],
           language: str, size: Size, style: Style = STYLE, **options: Any) -> Any:
    """A pygal chart with the console's look; `keys` name its series in add order."""
    tr = translator_for(language)
    chart = kind(style=style, js=[], disable_xml_declaration=True, no_prefix=False,
                 classes=["pygal-chart", "publisher-chart"], width=size.width,
                 height=size.height, legend_at_bottom=True,
                 legend_at_bottom_columns=size.legend_columns, dots_size=3,
                 no_data_text=tr.gettext("No data yet"), truncate_legend=-1,
                 truncate_label=size.label_chars, **options)
    chart.uuid = name + size.suffix  # the id is `chart-<name>[-narrow]`: stable, scoped CSS
    chart.add_xml_filter(_sanitised(title, keys))
    return chart


def _sanitised(title: str, keys: list[str]) -> Callable[[Any], Any]:
    """The last pass over the tree: drop scripts and comments, label the root and name
    each series group by its key."""
    def apply(root: Any) -> Any:
        for node in list(root.iter(etree.Comment, "{*}script")):
            node.getparent().remove(node)
        root.set("role", "img")
        root.set("aria-label", title)
        for node in root.iter("{*}title"):
            if node.getparent() is root:
                node.text = title
        for group in root.iter("{*}g"):
            classes = (group.get("class") or "").split()
            index = next((int(c[6:]) for c in classes if c.startswith("serie-")), None)
            if index is not None and index < len(keys):
                group.set("class", " ".join([*classes, f"series-{keys[index]}"]))
        return root
    return apply


def _render(chart: Any) -> str:
    return str(chart.render(is_unicode=True))


def _empty(name: str, title: str, language: str, size: Size) -> str:
    """The chart's frame with "No data yet" in the middle and no meaningless axes."""
    return _render(_chart(pygal.XY, name, title, [], language, size, show_x_labels=False,
                          show_y_labels=False, show_y_guides=False, show_x_guides=False))


def time_ticks(first: float, last: float, most: int) -> tuple[list[float], str]:
    """Label positions on round steps between two epoch times, at most `most` of them, and
    the strftime pattern that tells every one of them apart."""
    span = max(last - first, 1.0)

    def on(step: int) -> list[float]:
        return [float(n * step) for n in range(math.ceil(first / step),
                                                math.floor(last / step) + 1)]

    step = next((s for s in TIME_STEPS if len(on(s)) <= most), TIME_STEPS[-1])
    ticks = on(step)
    if step < 60:
        pattern = "%H:%M:%S"
    elif step < 86400:
        pattern = "%H:%M" if span < 86400 else "%m-%d %H:%M"
    else:
        pattern = "%m-%d"
    return ticks or [first], pattern


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _point(value: Any, tooltip: str, **extra: Any) -> dict[str, Any]:
    return {"value": value, "tooltip": tooltip, **extra}


def subscribers_chart(days: Sequence[DayActivity], language: str,
                      size: Size = WIDE) -> str:
    """Daily confirmations, unsubscribes, bounces and complaints, and the confirmed total
    (right axis), one point per day."""
    tr = translator_for(language)
    daily = [("confirmed", N_("New confirmations")), ("unsubscribed", N_("Unsubscribes")),
             ("bounced", N_("Bounces")), ("complained", N_("Spam complaints"))]
    keys = [key for key, _ in daily] + ["total-confirmed"]
    every = max(1, math.ceil(len(days) / (size.x_labels - 1)))
    title = tr.gettext("Subscribers per day")
    if not days:
        return _empty("subscribers", title, language, size)
    chart = _chart(pygal.Line, "subscribers", title, keys, language, size,
                   x_labels_major_every=every, show_minor_x_labels=False, min_scale=1,
                   max_scale=6, include_x_axis=True, value_formatter=_count)
    chart.x_labels = [day.day.strftime("%m-%d") for day in days]
    for key, label in daily:
        name = tr.gettext(label)
        chart.add(name, [_point(getattr(day, key), f"{day.day.isoformat()} {name}: "
                                f"{getattr(day, key):,}") for day in days])
    total = tr.gettext("Confirmed subscribers (right axis)")
    chart.add(total, [_point(day.total_confirmed, f"{day.day.isoformat()} {total}: "
                             f"{day.total_confirmed:,}") for day in days],
              secondary=True, stroke_style=DASHED)
    return _render(chart)


def feeds_chart(days: Sequence[FeedDay], language: str, size: Size = WIDE) -> str:
    """Feed fetches per day (every feed) and the distinct other fetchers per day (summed
    over the feeds), one point per day."""
    tr = translator_for(language)
    title = tr.gettext("Feed readership per day")
    if not any(day.fetches for day in days):
        return _empty("feeds", title, language, size)
    every = max(1, math.ceil(len(days) / (size.x_labels - 1)))
    chart = _chart(pygal.Line, "feeds", title, ["feed-fetches", "other-fetchers"], language,
                   size, x_labels_major_every=every, show_minor_x_labels=False, min_scale=1,
                   max_scale=6, include_x_axis=True, value_formatter=_count)
    chart.x_labels = [day.day.strftime("%m-%d") for day in days]
    for key, label in (("fetches", N_("Feed fetches")),
                       ("other_fetchers", N_("Other fetchers (distinct per day)"))):
        name = tr.gettext(label)
        chart.add(name, [_point(getattr(day, key), f"{day.day.isoformat()} {name}: "
                                f"{getattr(day, key):,}") for day in days])
    return _render(chart)


def progress_chart(points: Sequence[tuple[datetime, int]], total: int, language: str,
                   zone: tzinfo = UTC, size: Size = WIDE) -> str:
    """Messages sent so far over a send's life, with its audience as a dashed line; times
    on the axis in `zone` (UTC unless told), on round steps that read differently."""
    tr = translator_for(language)
    if not points:
        return _empty("progress", tr.gettext("Messages sent"), language, size)
    first, last = points[0][0].timestamp(), points[-1][0].timestamp()
    if last - first < 60:  # a single sample still gets an axis a minute wide
        last = first + 60
    ticks, pattern = time_ticks(first, last, size.x_labels)

    def when(x: float) -> str:
        return datetime.fromtimestamp(x, zone).strftime(pattern)

    top = max(total, max(count for _, count in points), 1)
    chart = _chart(pygal.XY, "progress", tr.gettext("Messages sent"), ["sent", "total"],
                   language, size, x_value_formatter=when, range=(0, top * 1.05),
                   xrange=(first, last), x_title=tr.gettext("Time ({zone})", zone=zone),
                   value_formatter=_count)
    chart.x_labels = ticks
    sent = tr.gettext("Sent so far")
    chart.add(sent, [_point((at.timestamp(), count), f"{when(at.timestamp())} {sent}: {count:,}")
                     for at, count in points])
    audience = tr.pgettext("chart", "Audience") + tr.gettext(": ")
    chart.add(f"{audience}{total:,}", [(first, total), (last, total)],
              show_dots=False, stroke_style=DASHED)
    return _render(chart)


def rates_chart(sends: Sequence[SendSummary], language: str, size: Size = WIDE) -> str:
    """Bounce and complaint rate (percent) per send, oldest first, with the limits large
    mailbox providers enforce as dashed lines in the rate's colour; a send over a limit is
    marked."""
    tr = translator_for(language)
    keys = ["bounce-rate", "complaint-rate", "bounce-limit", "complaint-limit"]
    title = tr.gettext("Bounce and complaint rates per send")
    if not sends:
        return _empty("rates", title, language, size)
    ordered = sorted(sends, key=lambda send: (send.created_at, send.send_id))
    labels = [("⚠ " if send.over_limits else "") + send.slug for send in ordered]
    highest = max(max(send.bounce_rate, send.complaint_rate) for send in ordered)
    top = max(BOUNCE_RATE_LIMIT * 1.25, highest * 1.1) * 100
    left, right = 0.5, len(ordered) + 0.5  # sends at x = 1…n
    chart = _chart(pygal.XY, "rates", title, keys, language, size,
                   style=RATES_STYLE, range=(0, top), xrange=(left, right),
                   x_value_formatter=lambda x: labels[round(x) - 1] if left < x < right else "",
                   x_label_rotation=20 if size is WIDE else 45,
                   value_formatter=lambda y: f"{y:.2f} %")
    step = max(1, math.ceil(len(ordered) / (2 * size.x_labels - 2)))
    chart.x_labels = list(range(1, len(ordered) + 1, step))
    for name, rate, limit in ((N_("Bounce rate"), "bounce_rate", BOUNCE_RATE_LIMIT),
                              (N_("Complaint rate"), "complaint_rate", COMPLAINT_RATE_LIMIT)):
        label = tr.gettext(name)
        chart.add(label, [_rate_point(i, send, getattr(send, rate), limit, label,
                                      tr.gettext("over the limit"))
                          for i, send in enumerate(ordered, start=1)])
    for name, limit in ((N_("Bounce rate limit ({limit})"), BOUNCE_RATE_LIMIT),
                        (N_("Complaint rate limit ({limit})"), COMPLAINT_RATE_LIMIT)):
        shown = format(limit * 100, "g") + " %"
        chart.add(tr.gettext(name, limit=shown),
                  [(left, limit * 100), (right, limit * 100)], show_dots=False,
                  stroke_style=DASHED)
    return _render(chart)


def _rate_point(index: int, send: SendSummary, rate: float, limit: float, name: str,
                over_label: str) -> dict[str, Any]:
    tooltip = f"{send.slug} {name}: {rate * 100:.2f} %"
    if rate <= limit:
        return _point((index, rate * 100), tooltip)
    return _point((index, rate * 100), f"{tooltip} ({over_label})", color=OVER_LIMIT_COLOUR,
                  node={"r": 6, "class": f"dot reactive tooltip-trigger {OVER_LIMIT}"})
