"""Benchmarks: tool overhead over the Sikka requests each tool must make, and throughput (`make bench`)."""
