"""Persistence: tables, the engine, the store functions and the migrations."""
