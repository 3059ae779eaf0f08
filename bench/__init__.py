"""govpulse benchmarks: measurement tools, not tests.

``python -m bench --profile quick|full [--only throughput|latency|fanout|memory]`` (or
``make bench``, ``BENCH=full make bench``) starts throwaway services, measures, prints
the figures and writes ``bench/results/latest.json`` and ``latest.md``. See
``bench/README.md`` for what each benchmark does and how to read its numbers.
"""
