"""Which dashboard views of which botnet an admin made public; mixed into both stores.

A public view is served without a token (:mod:`botmon.dashboard.public`), so what is stored
here decides what strangers may read. The store keeps only the marking: a botnet, a view
name, who marked it and when. Which names exist, and what each one shows, is the analysis
layer's business (:mod:`botmon.analysis.public`); the store only refuses names that could
never be one, so a bad caller cannot fill the table with text.

The SQL is shared by both backends: times are epoch microseconds and ``?`` becomes ``%s``
for PostgreSQL.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import msgspec

from botmon.store.base import StoreError

VIEW_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
"""What a view name may look like (the catalogue's names all do)."""


class PublicView(msgspec.Struct, frozen=True, kw_only=True):
    """A view of a botnet served to anyone: since when and by whom it was made public."""

    botnet: str
    view: str
    added_at: float
    added_by: str


class PublicViewPort:
    """Marking, unmarking and listing public views; mixed into both stores."""

    backend: str

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _config_write(self) -> AbstractContextManager[Any]:
        raise NotImplementedError

    def _pv(self, text: str) -> str:
        return text if self.backend == "duckdb" else text.replace("?", "%s")

    def _public_botnet(self, botnet: str) -> int:
        rows = self._select(self._pv("SELECT id FROM botnets WHERE name = ?"), [botnet])
        if not rows:
            raise StoreError(f"unknown botnet {botnet[:80]!r}: create it first")
        return int(rows[0][0])

    def publish_view(self, botnet: str, view: str, by: str, at: float) -> PublicView:
        """Serve ``view`` of ``botnet`` publicly (again: the new time and admin); the stored
        row. StoreError for an unknown botnet or a name no view can have."""
        if not VIEW_NAME.match(view):
            raise StoreError(f"{view[:40]!r} is not a view name")
        if not math.isfinite(at):
            raise StoreError("at must be a finite time")
        botnet_id = self._public_botnet(botnet)
        with self._config_write() as ex:
            ex.execute(
                self._pv(
                    "INSERT INTO public_views (botnet_id, view, added_us, added_by)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (botnet_id, view) DO UPDATE SET"
                    " added_us = excluded.added_us, added_by = excluded.added_by"
                ),
                [botnet_id, view, round(at * 1_000_000), by[:200]],
            )
        found = [v for v in self.public_views(botnet) if v.view == view]
        if not found:  # only a concurrent unpublish can get here
            raise StoreError(f"{view} of {botnet} was made private meanwhile")
        return found[0]

    def unpublish_view(self, botnet: str, view: str) -> bool:
        """Stop serving ``view`` of ``botnet`` publicly; False when it was not public."""
        botnet_id = self._public_botnet(botnet)
        where = "botnet_id = ? AND view = ?"
        if not self._select(
            self._pv(f"SELECT 1 FROM public_views WHERE {where}"), [botnet_id, view]
        ):
            return False
        with self._config_write() as ex:
            ex.execute(self._pv(f"DELETE FROM public_views WHERE {where}"), [botnet_id, view])
        return True

    def public_views(self, botnet: str | None = None) -> list[PublicView]:
        """The public views of ``botnet`` (None: of every botnet), by botnet and view."""
        where, params = "", []
        if botnet is not None:
            where, params = " WHERE b.name = ?", [botnet]
        rows = self._select(
            self._pv(
                "SELECT b.name, p.view, p.added_us, p.added_by FROM public_views p"
                f" JOIN botnets b ON b.id = p.botnet_id{where} ORDER BY b.name, p.view"
            ),
            params,
        )
        return [
            PublicView(
                botnet=str(r[0]), view=str(r[1]), added_at=int(r[2]) / 1_000_000, added_by=str(r[3])
            )
            for r in rows
        ]
