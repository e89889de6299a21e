"""botmon.store."""
