"""Benchmarks against PostgreSQL (``make bench``); not part of the test suite."""
