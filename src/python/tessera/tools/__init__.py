"""Developer tools: benchmarks that print figures."""
