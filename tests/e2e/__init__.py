"""End-to-end tests: the dashboard in Debian's headless chromium against a running demo hub."""
