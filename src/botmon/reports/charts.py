"""The summary's charts, each written as PNG (for mail and slides) and SVG (for the page).

matplotlib with the Agg backend: no display, no fonts or scripts fetched from anywhere. The
SVG and PNG metadata carry no date and SVG ids a fixed salt, so the same data gives the same
bytes and a re-run report keeps its checksums. SVG text stays text (``svg.fonttype: none``):
searchable on the page, a third of the size, and drawn about twice as fast as glyph paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

INK = "#1f2933"
MUTED = "#7b8794"
GRID = "#e4e7eb"
BLUE = "#2f6fb3"
TEAL = "#2a9d8f"
ORANGE = "#e07a29"
LEVELS = {"low": "#d9a441", "medium": "#5b8fd1", "high": "#2e7d4f"}
TOP = 15
"""Bars in a top-N chart; the rest are summed into 'others' in the text, not the chart."""

_STYLE: Any = {
    "font.size": 10,
    "axes.edgecolor": MUTED,
    "axes.labelcolor": INK,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.titlecolor": INK,
    "axes.titlelocation": "left",
    "xtick.color": INK,
    "ytick.color": INK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "botmon-report",
    "svg.fonttype": "none",
}


@dataclass(frozen=True)
class Chart:
    """A written chart: its file stem, title and the two files."""

    name: str
    title: str
    png: Path
    svg: Path


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    fig = plt.figure(figsize=(width, height), dpi=100)
    ax = fig.add_subplot()
    ax.grid(axis="both", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _save(fig: Figure, directory: Path, name: str, title: str) -> Chart:
    png, svg = directory / f"{name}.png", directory / f"{name}.svg"
    fig.tight_layout()
    fig.savefig(png, format="png", dpi=150, metadata={"Software": None})
    fig.savefig(svg, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return Chart(name, title, png, svg)


def _empty(ax: Any, text: str = "no bots seen in this period") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", color=MUTED, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def time_series(
    directory: Path,
    name: str,
    title: str,
    points: Sequence[tuple[float, int, int]],
    step_label: str,
    bars: bool,
) -> Chart:
    """Distinct addresses (and bot IDs, where the protocol has them) per bucket."""
    with plt.rc_context(_STYLE):
        fig, ax = _figure(9, 3.6)
        ax.set_title(title)
        if not points or not any(ips or ids for _, ips, ids in points):
            _empty(ax)
            return _save(fig, directory, name, title)
        times = [datetime.fromtimestamp(t, UTC) for t, _, _ in points]
        ips = [p[1] for p in points]
        ids = [p[2] for p in points]
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if bars:
            ax.bar(times, ips, width=0.8, color=BLUE, label="IP addresses", align="edge")
            if any(ids):
                centres = [mdates.date2num(t) + 0.4 for t in times]  # type: ignore[no-untyped-call]
                ax.plot(
                    centres,
                    ids,
                    "o",
                    color=ORANGE,
                    label="bot IDs",
                )
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%a %d %b"))  # type: ignore[no-untyped-call]
        else:
            # the last bucket drawn to its end, not stopped at its start
            step = points[1][0] - points[0][0] if len(points) > 1 else 3600.0
            edges = [*times, datetime.fromtimestamp(points[-1][0] + step, UTC)]
            ax.fill_between(edges, [*ips, ips[-1]], step="post", color=BLUE, alpha=0.18, lw=0)
            ax.step(edges, [*ips, ips[-1]], where="post", color=BLUE, lw=1.6, label="IP addresses")
            if any(ids):
                ax.step(edges, [*ids, ids[-1]], where="post", color=ORANGE, lw=1.4, label="bot IDs")
            locator = mdates.AutoDateLocator(minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
            ax.xaxis.set_major_locator(locator)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.set_ylabel(f"distinct per {step_label}")
        ax.set_ylim(0, max(*ips, *ids) * 1.2)  # room for the legend above the highest value
        ax.grid(axis="x", visible=False)
        ax.legend(frameon=False, loc="upper left", ncols=2)
        ax.text(
            1.0,
            -0.2,
            "UTC",
            ha="right",
            va="top",
            color=MUTED,
            transform=ax.transAxes,
        )
        return _save(fig, directory, name, title)


def top_bars(
    directory: Path,
    name: str,
    title: str,
    items: Sequence[tuple[str, int]],
    color: str = BLUE,
) -> Chart:
    """A horizontal bar chart of the largest ``items`` (label, bots), largest on top."""
    shown = list(items[:TOP])
    with plt.rc_context(_STYLE):
        fig, ax = _figure(6.5, 1.2 + 0.34 * max(len(shown), 3))
        ax.set_title(title)
        if not shown:
            _empty(ax)
            return _save(fig, directory, name, title)
        labels = [label for label, _ in reversed(shown)]
        values = [value for _, value in reversed(shown)]
        bars = ax.barh(labels, values, color=color, height=0.65)
        ax.bar_label(bars, padding=3, color=INK, fontsize=9)
        ax.set_xlabel("bots")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(axis="y", visible=False)
        ax.set_xlim(0, max(values) * 1.15)
        return _save(fig, directory, name, title)


def categories(
    directory: Path,
    name: str,
    title: str,
    items: Sequence[tuple[str, int]],
    colors: Sequence[str],
) -> Chart:
    """Bots per category (origins, confidence levels), each bar with its share."""
    with plt.rc_context(_STYLE):
        fig, ax = _figure(6, 2.6)
        ax.set_title(title)
        total = sum(v for _, v in items)
        if not total:
            _empty(ax)
            return _save(fig, directory, name, title)
        labels = [label for label, _ in items]
        values = [value for _, value in items]
        bars = ax.barh(labels[::-1], values[::-1], color=list(colors)[::-1], height=0.6)
        ax.bar_label(
            bars,
            labels=[f"{v}  ({100 * v / total:.0f} %)" for v in values[::-1]],
            padding=3,
            color=INK,
            fontsize=9,
        )
        ax.set_xlim(0, max(values) * 1.35)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("bots")
        ax.grid(axis="y", visible=False)
        return _save(fig, directory, name, title)
