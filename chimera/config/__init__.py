"""Configuration bundles: the typed, validated settings the services run on (spec B6)."""
