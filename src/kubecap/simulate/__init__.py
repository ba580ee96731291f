"""What-if replay: walk forward through a history or a trace and score a strategy on the days it did not see.

The one way strategies are compared, in tests and benchmarks (bench/quality.py).
"""
