"""The sensor: a node that bots contact, answering as the protocol expects and reporting them.

- :mod:`.limits`: per-source token buckets in a bounded LRU table (floods and spoofing);
- :mod:`.announce`: who to announce to and when, under a rate cap and the scope guard;
- :mod:`.core`: the sans-I/O heart: one message in, the answer and records out, counted;
- :mod:`.listeners`: UDP sockets and TCP servers, one per listen address;
- :mod:`.runner`: the asyncio loop, heartbeats and server commands.
"""
