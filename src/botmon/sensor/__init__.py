"""botmon.sensor."""
