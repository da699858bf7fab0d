"""Read models kept up to date from the event log, exactly once, on both backends."""
