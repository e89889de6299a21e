"""File formats for moving records in and out of botmon: CSV, JSON lines and Parquet."""
