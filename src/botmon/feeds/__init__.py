"""Feeds of infected hosts for network owners and CERTs: who may see which bots, and in what form.

:mod:`botmon.feeds.model` holds what every part shares (the scope of a network-owner token,
the query, one row per bot and botnet); :mod:`botmon.feeds.formats` names every output format.
"""
