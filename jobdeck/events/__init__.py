"""The live feed: the tailer that reads the job-event outbox and the hub that fans events
out to this process's WebSocket clients."""
