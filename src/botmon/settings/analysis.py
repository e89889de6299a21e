"""The ``analysis`` section: defaults of the research analyses and how often ``botmon serve``
recomputes them.

The command line and the API take each analysis's own options per request; these are the
values a request that names none gets, and the schedule's, so a deployment sets its session
model once (and ``botmon config show`` says which model the numbers on the dashboard used).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, ClassVar

from botmon.ipaddr import parse_address
from botmon.settings.loader import Settings, setting

DEFAULT_BUCKET_S = 300
"""BMS's churn work: presence is decided per 5-minute bucket."""
DEFAULT_GAP_S = 900
"""BMS's churn work: a session ends after 15 minutes without a reply."""


class AnalysisSettings(Settings, frozen=True, kw_only=True):
    """Defaults of ``botmon analyze`` and the schedule of ``botmon serve``."""

    section: ClassVar[str] = "analysis"

    bucket_s: Annotated[
        int,
        setting(
            "Presence bucket of the churn and counting analyses (seconds): a peer is present "
            "in a bucket when it replied in it.",
            ge=1,
            le=86_400,
        ),
    ] = DEFAULT_BUCKET_S
    gap_s: Annotated[
        int,
        setting(
            "Silence (seconds) after which a peer's session is closed (churn analysis).",
            ge=1,
            le=30 * 86_400,
        ),
    ] = DEFAULT_GAP_S
    schedule_s: Annotated[
        float,
        setting(
            "How often `botmon serve` recomputes every analysis of every botnet in the "
            "background so the dashboard's analysis views are current (0: only on request).",
            ge=0,
        ),
    ] = 900.0
    confidence: Annotated[
        float,
        setting(
            "Confidence level of the interval around the estimated number of bots.",
            gt=0.5,
            lt=1.0,
        ),
    ] = 0.95
    # detect (crawler and sensor detection)
    own_monitors: Annotated[
        tuple[str, ...],
        setting(
            "botmon's own monitors as other researchers would see them (`ip` or `ip:port`, "
            "comma-separated; a crawler's public address): the detection analysis scores them "
            "under `self` and never lists them as suspects. Sensors with a campaign are "
            "known without this.",
            max_length=1000,
        ),
    ] = ()

    # counting bots (analysis "count")
    count_min_ids: Annotated[
        int,
        setting(
            "Bot IDs an AS (else its country) needs in the calibration botnet before the "
            "counting estimate uses its own addresses-per-bot figure instead of a wider one.",
            ge=2,
            le=1_000_000,
        ),
    ] = 20
    count_bootstrap: Annotated[
        int,
        setting(
            "Bootstrap resamples behind the counting estimate's confidence interval.",
            ge=50,
            le=20_000,
        ),
    ] = 1000

    def problems(self) -> Iterator[tuple[str, str]]:
        """Every own monitor must be an address, so a typo stops start-up rather than
        leaving a monitor unrecognised."""
        for text in self.own_monitors:
            try:
                parse_address(text)
            except ValueError:
                yield "own_monitors", f"{text[:60]!r} is not an ip, ip:port or [ipv6]:port"
