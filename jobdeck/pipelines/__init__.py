"""Pipelines: user-defined DAGs of steps (the `workflow-execution` job type's domain):
the spec and its JSON Schema, validation, references. Pure code, no I/O."""
