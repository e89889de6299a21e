"""The reports a national CERT distributes: per-network bot lists, a summary with charts, the
methodology of the period, and a checksum manifest that a signature may cover."""
