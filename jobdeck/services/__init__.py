"""Services beside the HTTP layer: job control and fine-tuning creation, shared by the
API, the CLI and (through the worker) the bulk-operation job."""
