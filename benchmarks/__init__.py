"""TRIS's benchmark suite: `make bench` (and `make bench-full`) run `benchmarks.run`."""
