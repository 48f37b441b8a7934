"""kplan benchmarks (``make bench``): ratios measured in one run, not timed tests."""
