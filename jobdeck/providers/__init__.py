"""Calls to AI providers (OpenAI and OpenAI-compatible servers, Ollama): the HTTP clients
every provider call goes through, and the budgets they share (budgets.py)."""
