"""The client's error types, in one small module so the spool and the client share them."""

from __future__ import annotations


class ReportClientError(RuntimeError):
    """The client cannot do its job (bad token, closed, unusable spool): a clear message."""


class SpoolError(ReportClientError):
    """The spool directory cannot be used (locked by another client, not writable, ...)."""
