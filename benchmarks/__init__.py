"""Benchmark scripts (`make bench`); never part of `make test`."""
