"""Reports over the stored usage history (pure summaries plus output formatters)."""
