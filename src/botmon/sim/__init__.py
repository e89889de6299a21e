"""botmon.sim."""
