"""Personal data kept no longer than needed: the retention schedule and the job that applies it."""
