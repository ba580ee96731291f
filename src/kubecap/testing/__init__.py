"""Fakes and real-server harnesses shared by the tests, the benchmarks and the demo."""
