"""Small server-side SVG charts (bars, lines, horizontal bars) for the dashboards; no JS library.

Each chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` (the page also shows
the numbers as a table beside it). Values are integers — counts, or hundredths of points and
hours with ``scale=100`` — and every coordinate is computed in integer arithmetic, so no float
ever touches a value. Colours are told apart by shape as well: each series has its own legend
swatch and, on line charts, its own marker.
"""

from collections.abc import Sequence

from markupsafe import Markup, escape

#: Drawn at about 350 px wide on a phone: text of 20 units shows at about 14 px.
WIDTH, HEIGHT = 480, 320
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 84, 40
#: Colour-blind-safe (Okabe–Ito) colours.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00")
MARKERS = ("circle", "square", "diamond", "triangle", "circle")


def nice_top(largest: int) -> int:
    """The smallest 1, 2 or 5 × 10^n at or above ``largest`` (at least 1): the axis's top."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= largest:
                return max(step * factor, 1)
        step *= 10


def _number(value: int, scale: int) -> str:
    if scale == 1:
        return str(value)
    whole, part = divmod(abs(value), scale)
    digits = len(str(scale)) - 1
    return ("-" if value < 0 else "") + f"{whole}.{part:0{digits}d}"


def _axis_label(value: int, scale: int) -> str:
    """Axis ticks without trailing zero decimals ("50", not "50.00")."""
    if value % scale == 0:
        return str(value // scale)
    return _number(value, scale)


def _open(chart_id: str, title: str, desc: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="chart"'
        f' role="img" aria-labelledby="{chart_id}-t {chart_id}-d" id="{chart_id}">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
    ]


def _steps(top: int) -> int:
    """How many grid steps divide the axis into whole numbers: 5, 4, 2 or 1."""
    return next(steps for steps in (5, 4, 2, 1) if top % steps == 0)


def _grid(top: int, scale: int) -> list[str]:
    """Horizontal grid lines with a tick label at each, whole steps from 0 to the top."""
    out = []
    plot = HEIGHT - TOP - BOTTOM
    steps = _steps(top)
    for step in range(steps + 1):
        y = HEIGHT - BOTTOM - plot * step // steps
        value = top * step // steps
        out.append(f'<line x1="{LEFT}" y1="{y}" x2="{WIDTH - RIGHT}" y2="{y}" class="grid-line"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 7}" text-anchor="end" class="tick">'
                   f'{_axis_label(value, scale)}</text>')
    return out


def _text_width(text: str) -> int:
    """Roughly, at 20 units: CJK characters are square, Latin ones about half as wide."""
    return sum(20 if ord(c) > 0x2E80 else 11 for c in text)


def _legend(names: Sequence[str]) -> list[str]:
    """Swatches and names, wrapped onto a second row when the first is full."""
    out, x, y = [], 8, 8
    for n, name in enumerate(names):
        width = 30 + _text_width(name)
        if x + width > WIDTH and x > 8:
            x, y = 8, y + 28
        colour = COLOURS[n % len(COLOURS)]
        out.append(f'<rect x="{x}" y="{y}" width="18" height="18" fill="{colour}"/>')
        out.append(f'<text x="{x + 24}" y="{y + 16}" class="legend">{escape(name)}</text>')
        x += width + 12
    return out


def _x_labels(labels: Sequence[str], centres: Sequence[int]) -> list[str]:
    # At 20 units a label, about six fit across: every other month of a year.
    every = max(1, (len(labels) + 5) // 6)
    return [
        f'<text x="{x}" y="{HEIGHT - BOTTOM + 26}" text-anchor="middle" class="tick">{escape(label)}</text>'
        for n, (label, x) in enumerate(zip(labels, centres, strict=True)) if n % every == 0
    ]


def bar_chart(chart_id: str, title: str, desc: str, labels: Sequence[str],
              series: Sequence[tuple[str, Sequence[int]]], *, scale: int = 1) -> Markup:
    """Grouped vertical bars: one group per label, one bar per series."""
    top = nice_top(max((max(values, default=0) for _, values in series), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    groups = max(len(labels), 1)
    group_w = plot_w // groups
    bar_w = max((group_w * 3 // 4) // max(len(series), 1), 2)
    parts = _open(chart_id, title, desc) + _grid(top, scale) + _legend([name for name, _ in series])
    centres = []
    for g in range(len(labels)):
        x0 = LEFT + g * group_w + (group_w - bar_w * len(series)) // 2
        centres.append(LEFT + g * group_w + group_w // 2)
        for s, (name, values) in enumerate(series):
            value = values[g]
            height = plot_h * max(value, 0) // top
            x = x0 + s * bar_w
            parts.append(
                f'<rect x="{x}" y="{HEIGHT - BOTTOM - height}" width="{bar_w - 1}" height="{height}"'
                f' fill="{COLOURS[s % len(COLOURS)]}"><title>{escape(labels[g])} · {escape(name)}:'
                f' {_number(value, scale)}</title></rect>'
            )
    parts += _x_labels(labels, centres)
    parts.append(f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}"'
                 ' class="axis"/>')
    parts.append("</svg>")
    return Markup("\n".join(parts))


def _marker(kind: str, x: int, y: int, colour: str) -> str:
    if kind == "square":
        return f'<rect x="{x - 4}" y="{y - 4}" width="8" height="8" fill="{colour}"/>'
    if kind == "diamond":
        return f'<path d="M{x} {y - 6} L{x + 6} {y} L{x} {y + 6} L{x - 6} {y} Z" fill="{colour}"/>'
    if kind == "triangle":
        return f'<path d="M{x} {y - 6} L{x + 6} {y + 5} L{x - 6} {y + 5} Z" fill="{colour}"/>'
    return f'<circle cx="{x}" cy="{y}" r="4" fill="{colour}"/>'


def line_chart(chart_id: str, title: str, desc: str, labels: Sequence[str],
               series: Sequence[tuple[str, Sequence[int]]], *, scale: int = 1) -> Markup:
    """One line per series over the labels (months), each point marked."""
    top = nice_top(max((max(values, default=0) for _, values in series), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max(len(labels), 1)
    step = plot_w // count
    centres = [LEFT + n * step + step // 2 for n in range(len(labels))]
    parts = _open(chart_id, title, desc) + _grid(top, scale) + _legend([name for name, _ in series])
    for s, (name, values) in enumerate(series):
        colour = COLOURS[s % len(COLOURS)]
        points = [(x, HEIGHT - BOTTOM - plot_h * max(v, 0) // top)
                  for x, v in zip(centres, values, strict=True)]
        if len(points) > 1:
            path = " ".join(f"{'M' if n == 0 else 'L'}{x} {y}" for n, (x, y) in enumerate(points))
            parts.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="3"/>')
        for (x, y), label, value in zip(points, labels, values, strict=True):
            parts.append(f'<g><title>{escape(label)} · {escape(name)}: {_number(value, scale)}</title>'
                         f'{_marker(MARKERS[s % len(MARKERS)], x, y, colour)}</g>')
    parts += _x_labels(labels, centres)
    parts.append(f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}"'
                 ' class="axis"/>')
    parts.append("</svg>")
    return Markup("\n".join(parts))


def hbar_chart(chart_id: str, title: str, desc: str, rows: Sequence[tuple[str, int]], *,
               scale: int = 1) -> Markup:
    """Horizontal bars, one per row (a ranking such as the most redeemed goods)."""
    row_h, label_w = 34, 150
    height = 8 + row_h * max(len(rows), 1) + 8
    top = nice_top(max((value for _, value in rows), default=0))
    plot_w = WIDTH - label_w - RIGHT - 80
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" class="chart"'
        f' role="img" aria-labelledby="{chart_id}-t {chart_id}-d" id="{chart_id}">',
        f'<title id="{chart_id}-t">{escape(title)}</title>',
        f'<desc id="{chart_id}-d">{escape(desc)}</desc>',
    ]
    for n, (label, value) in enumerate(rows):
        y = 8 + n * row_h
        width = plot_w * max(value, 0) // top
        shown = label if len(label) <= 7 else label[:6] + "…"
        parts += [
            f'<text x="{label_w - 8}" y="{y + 23}" text-anchor="end" class="tick">{escape(shown)}</text>',
            f'<rect x="{label_w}" y="{y + 4}" width="{width}" height="{row_h - 8}" fill="{COLOURS[0]}"/>',
            f'<text x="{label_w + width + 6}" y="{y + 23}" class="tick">{_number(value, scale)}</text>',
        ]
    parts.append("</svg>")
    return Markup("\n".join(parts))
