"""What the tests and the benchmarks share that is not product code.

Invariants: nothing here is imported by ``bot``, ``handlers`` or ``storage``; nothing here
imports the rest of ``tests`` (fixtures, conftest, test modules) or ``bench``, so a benchmark
that imports ``tests.kit`` depends on nothing else of the test suite
(``tests/test_architecture.py`` checks both). Product behaviour (opening a session, filling a
registry record, registering a terminal) stays in ``bot``; only the other side's plumbing
lives here: where the sample photos are, a mini-program install's key pair, and a terminal's
signed client.
"""
