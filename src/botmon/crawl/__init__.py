"""botmon.crawl."""
