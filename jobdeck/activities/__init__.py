"""Side effects: job records and events, and the work of each job type."""
