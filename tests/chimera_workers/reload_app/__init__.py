"""A tiny app for the config hot-reload and resources tests (loader, handler, factory)."""
