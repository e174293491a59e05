"""A small importable app for the topology loader tests: payload types and handlers."""
