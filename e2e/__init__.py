"""The end-to-end suite (a package, so that it shares tests/processes.py with the integration tests)."""
