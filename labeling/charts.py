"""Server-rendered SVG bar charts: no JavaScript, no external library, labels escaped by format_html."""

from collections.abc import Sequence

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


def bar_chart(points: Sequence[tuple[str, float]], *, title: str, width: int = 560, height: int = 160) -> SafeString:
    if not points:
        return format_html('<p class="muted">{}: no data yet.</p>', title)
    points = list(points)[-60:]
    top = max(value for _, value in points) or 1
    gap = 2
    bar = min(max((width - gap * len(points)) / len(points), 1), 40)
    bars = format_html_join(
        "",
        '<g><rect x="{}" y="{}" width="{}" height="{}"></rect><title>{}: {}</title></g>',
        (
            (
                f"{i * (bar + gap):.1f}",
                f"{height - 20 - (height - 30) * value / top:.1f}",
                f"{bar:.1f}",
                f"{(height - 30) * value / top:.1f}",
                label,
                value,
            )
            for i, (label, value) in enumerate(points)
        ),
    )
    return format_html(
        '<figure class="chart"><figcaption>{} <span class="muted">(max {})</span></figcaption>'
        '<svg viewBox="0 0 {} {}" width="{}" height="{}" role="img" aria-label="{}">{}'
        '<text x="0" y="{}" class="axis">{}</text><text x="{}" y="{}" class="axis" text-anchor="end">{}</text></svg></figure>',
        title,
        top,
        width,
        height,
        width,
        height,
        title,
        bars,
        height - 4,
        points[0][0],
        width,
        height - 4,
        points[-1][0],
    )
