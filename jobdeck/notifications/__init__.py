"""Notifications (issue 15): channels (signed webhooks, Slack, Discord, SMTP email), rules
that pick which events go where, and durable deliveries with a log.

`announce` (announce.py) is the one door every event goes through."""
