"""A sensor's live progress: the crawl display's panel and lines, with a sensor's numbers."""

from __future__ import annotations

import time
from typing import Any

from botmon.crawl.progress import Progress, paused_note


class SensorProgress(Progress):
    """Contacts per second, answers, announcements and what the caps turned away."""

    rate_key = "contacts"

    def line(self, s: dict[str, Any] | None = None) -> str:
        """One plain status line (also the final summary)."""
        s = s if s is not None else self._sample()
        stored = self.stored()
        return (
            f"[{time.strftime('%H:%M:%S')}] sensor{paused_note(s)}: "
            f"contacts {s.get('contacts', 0)} contacts/s {self.rate:.0f} "
            f"handled {s.get('handled', 0)} answered {s.get('answered', 0)} "
            f"peers_known {s.get('peers_known', 0)} announced {s.get('announced', 0)} "
            f"malformed {s.get('malformed', 0)} oversized {s.get('oversized', 0)} "
            f"rate_limited {s.get('rate_limited', 0)} "
            f"answers_capped {s.get('answers_capped', 0)} "
            f"out_of_scope {s.get('out_of_scope', 0)} "
            f"records_stored {'-' if stored is None else stored}"
        )

    def rows(self, s: dict[str, Any], stored: int | None) -> list[tuple[str, object]]:
        """The panel's rows for a sensor's status ``s``."""
        return [
            ("state", f"listening{paused_note(s)}"),
            ("contacts", s.get("contacts", 0)),
            ("contacts / s", f"{self.rate:.0f}"),
            ("handled", s.get("handled", 0)),
            ("answered", s.get("answered", 0)),
            ("peers known", s.get("peers_known", 0)),
            ("announced", s.get("announced", 0)),
            ("announce targets", s.get("announce_targets", 0)),
            ("malformed", s.get("malformed", 0)),
            ("oversized", s.get("oversized", 0)),
            ("over a source's rate", s.get("rate_limited", 0)),
            ("over the answer rate", s.get("answers_capped", 0)),
            ("out of scope (never answered)", s.get("out_of_scope", 0)),
            ("records stored", "-" if stored is None else stored),
        ]
