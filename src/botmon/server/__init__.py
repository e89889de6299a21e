"""botmon.server."""
