"""A tiny application for the runner tests: typed events and handlers with observable effects."""
