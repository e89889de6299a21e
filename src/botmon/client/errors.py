"""The client's error types, in one small module so the spool and the client share them."""

from __future__ import annotations


class ReportClientError(RuntimeError):
    """The client cannot do its job (bad token, closed, unusable spool): a clear message."""


class SpoolError(ReportClientError):
    """The spool directory cannot be used (locked by another client, not writable, ...)."""


class SpoolFull(Exception):
    """The spool cannot take a batch now: its size cap is reached or the disk is full.

    Not an error of the caller: the batch stays in memory and the client holds the crawl
    back (back-pressure) until the sender has freed space.
    """
