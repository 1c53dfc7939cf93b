"""Schedules' vocabulary (issue 15): what a schedule is, checked once at the edge, with its
cron read out in words and its next times previewed. Pure: no I/O, no Temporal."""
