"""Small inline SVG charts rendered on the server: no chart library in the browser."""

import math

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH, HEIGHT, PAD = 640, 240, 40


def line_chart(
    values: list[float | None],
    *,
    title: str,
    x_label: str,
    y_label: str,
    highlight: int | None = None,
) -> SafeString:
    """Return an accessible SVG plotting `values` against their index (None values are skipped)."""
    points = [(i, v) for i, v in enumerate(values) if v is not None and math.isfinite(v)]
    if not points:
        return format_html('<p class="chart-empty">No {} to chart yet.</p>', y_label)
    lows, highs = min(v for _, v in points), max(v for _, v in points)
    span = highs - lows or 1.0
    last = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = PAD + (WIDTH - 2 * PAD) * i / last
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - lows) / span
        return round(x, 1), round(y, 1)

    path = " ".join(f"{x},{y}" for x, y in (xy(i, v) for i, v in points))
    dots = format_html_join(
        "",
        '<circle cx="{}" cy="{}" r="{}" class="{}"><title>{} {}: {}</title></circle>',
        (
            (
                *xy(i, v),
                6 if i == highlight else 3,
                "best" if i == highlight else "point",
                x_label,
                i + 1,
                f"{v:.5g}",
            )
            for i, v in points
        ),
    )
    plot = format_html('<polyline points="{}" class="line"/>{}', path, dots)
    return svg_frame(plot, title=title, x_label=x_label, low=lows, high=highs)


def svg_frame(plot: SafeString, *, title: str, x_label: str, low: float, high: float) -> SafeString:
    """Return an accessible SVG chart: axes, the y range and the x label around `plot`."""
    return format_html(
        '<svg class="chart" viewBox="0 0 {w} {h}" role="img" aria-label="{title}">'
        "<title>{title}</title>"
        '<line x1="{p}" y1="{b}" x2="{r}" y2="{b}" class="axis"/>'
        '<line x1="{p}" y1="{p}" x2="{p}" y2="{b}" class="axis"/>'
        '<text x="{p}" y="{t}" class="label">{high}</text>'
        '<text x="{p}" y="{lb}" class="label">{low}</text>'
        '<text x="{cx}" y="{xb}" class="label" text-anchor="middle">{x_label}</text>'
        "{plot}</svg>",
        w=WIDTH,
        h=HEIGHT,
        p=PAD,
        b=HEIGHT - PAD,
        r=WIDTH - PAD,
        t=PAD - 8,
        lb=HEIGHT - PAD + 14,
        cx=WIDTH // 2,
        xb=HEIGHT - 6,
        title=title,
        high=f"{high:.4g}",
        low=f"{low:.4g}",
        x_label=x_label,
        plot=plot,
    )


def curves_chart(
    series: list[tuple[str, list[float]]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    highlight: str | None = None,
) -> SafeString:
    """Return an accessible SVG with one line per named series (e.g. each trial's loss by step)."""
    series = [
        (name, [v for v in values if v is not None and math.isfinite(v)]) for name, values in series
    ]
    series = [(name, values) for name, values in series if values]
    if not series:
        return format_html('<p class="chart-empty">No {} curves to chart yet.</p>', y_label)
    every = [v for _, values in series for v in values]
    lows, highs = min(every), max(every)
    span = highs - lows or 1.0
    last = max(max(len(values) for _, values in series) - 1, 1)

    def xy(i: int, v: float) -> str:
        x = PAD + (WIDTH - 2 * PAD) * i / last
        y = HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - lows) / span
        return f"{round(x, 1)},{round(y, 1)}"

    lines = format_html_join(
        "",
        '<polyline points="{}" class="curve curve-{}{}"><title>{}: last {} {}</title></polyline>',
        (
            (
                " ".join(xy(i, v) for i, v in enumerate(values)),
                index % 8,
                " best" if name == highlight else "",
                name,
                y_label,
                f"{values[-1]:.5g}",
            )
            for index, (name, values) in enumerate(series)
        ),
    )
    legend = format_html_join(
        "",
        '<li><span class="swatch curve-{}" aria-hidden="true"></span>{}{}</li>',
        (
            (index % 8, name, " (best)" if name == highlight else "")
            for index, (name, _) in enumerate(series)
        ),
    )
    return format_html(
        '<figure class="curves">{}<figcaption><ul class="legend">{}</ul></figcaption></figure>',
        svg_frame(lines, title=title, x_label=x_label, low=lows, high=highs),
        legend,
    )
