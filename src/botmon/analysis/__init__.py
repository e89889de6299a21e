"""botmon.analysis."""
