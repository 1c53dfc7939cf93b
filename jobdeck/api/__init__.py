"""The HTTP API: thin routes over the store and the job control."""
