"""botmon.enrich."""
