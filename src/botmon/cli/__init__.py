"""botmon.cli."""
