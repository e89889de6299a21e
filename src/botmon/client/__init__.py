"""botmon.client."""
