"""The chart bench/run draws from its own run: one panel of horizontal bars
per comparison, rg's bars in one colour and the baselines' in another, so
a reader sees at a glance what the printed ratios say. Plain SVG, no
dependencies."""

from html import escape

WIDTH = 760
LABEL = 300  # the labels' column
BAR = 18
GAP = 6
RG, BASELINE = "#c0392b", "#7f8c8d"


def draw(path, title, panels):
    """Writes the chart to `path`. `panels` is a list of (heading, unit,
    rows), each row (label, value, is_rg); each panel is scaled to its own
    largest value, and a value of None (not measured) is left out."""
    y = 40
    parts = [f'<text x="10" y="24" font-size="16" font-weight="bold">{escape(title)}</text>']
    for heading, unit, rows in panels:
        rows = [row for row in rows if row[1] is not None]
        if not rows:
            continue
        y += 14
        parts.append(f'<text x="10" y="{y}" font-size="13" font-weight="bold">{escape(heading)}</text>')
        y += 8
        top = max(value for _, value, _ in rows) or 1
        span = WIDTH - LABEL - 90
        for label, value, is_rg in rows:
            width = max(1, round(span * value / top))
            parts.append(f'<text x="{LABEL - 8}" y="{y + BAR - 5}" font-size="12" '
                         f'text-anchor="end">{escape(label)}</text>')
            parts.append(f'<rect x="{LABEL}" y="{y}" width="{width}" height="{BAR}" '
                         f'fill="{RG if is_rg else BASELINE}"/>')
            parts.append(f'<text x="{LABEL + width + 6}" y="{y + BAR - 5}" font-size="12">'
                         f'{escape(figure(value, unit))}</text>')
            y += BAR + GAP
        y += 10
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{y + 10}" '
           f'font-family="sans-serif"><rect width="100%" height="100%" fill="white"/>'
           + "".join(parts) + "</svg>\n")
    path.write_text(svg)


def figure(value, unit):
    """A bar's value as it is printed beside it."""
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit == "ms":
        return f"{value:,.0f} ms"
    return f"{value:.3f}{unit}"
