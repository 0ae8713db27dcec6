"""Benchmarks (plain scripts run with python -m bench.NAME) and their entry generator."""
