"""JSON Schemas a pipeline spec carries (an `llm` step's `responseSchema`): checked on save
as a schema, and an answer checked against it at run time, naming the first violation.

Offline: a `$ref` to anything outside the schema is refused, never fetched (a spec must
not make the worker call out to an address it names)."""

from __future__ import annotations

from typing import Any


def _where(path: Any) -> str:
    parts = [str(p) for p in path]
    return "/" + "/".join(parts) if parts else "the top level"


def schema_problem(schema: Any) -> str | None:
    """Why `schema` is not a usable JSON Schema, or None."""
    import jsonschema_rs

    try:
        jsonschema_rs.meta.validate(schema)
    except jsonschema_rs.ValidationError as err:
        return f"not a valid JSON Schema: at {_where(err.instance_path)}: {err.message}"
    except (jsonschema_rs.ReferencingError, ValueError) as err:
        return f"not a valid JSON Schema: {str(err).splitlines()[0]}"
    try:
        jsonschema_rs.validator_for(schema, offline=True)
    except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as err:
        return f"not a usable JSON Schema: {str(err).splitlines()[0]}"
    return None


def first_violation(schema: Any, value: Any) -> str | None:
    """The first way `value` breaks `schema` ("at /score: 7 is greater than ..."), or None."""
    import jsonschema_rs

    validator = jsonschema_rs.validator_for(schema, offline=True)
    for err in validator.iter_errors(value):
        return f"at {_where(err.instance_path)}: {err.message}"
    return None
