"""botmon.dashboard."""
