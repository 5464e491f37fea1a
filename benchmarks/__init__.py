"""Side-by-side benchmarks of shendu and PyTorch (the workloads W0-W3 and the method: docs/benchmarks.md)."""
