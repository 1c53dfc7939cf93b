"""Log lines are key=value with the extra fields, one record per line."""

from __future__ import annotations

import logging

from jobdeck.logs import KeyValueFormatter


def test_extra_fields_are_rendered_as_key_values() -> None:
    record = logging.LogRecord(
        "jobdeck.services.jobs", logging.INFO, __file__, 1, "job created", None, None
    )
    record.job_id = "abc"
    record.job_type = "bulk-operation"
    line = KeyValueFormatter().format(record)
    assert line.endswith(
        'level=info logger=jobdeck.services.jobs msg="job created" job_id=abc '
        "job_type=bulk-operation"
    )
    assert "\n" not in line
