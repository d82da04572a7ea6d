"""Tests of the benchmark tooling in bench/ (the performance gate, the locust load test)."""
