"""Realistic traffic for demos and benchmarks, and the ground truth it must give."""
