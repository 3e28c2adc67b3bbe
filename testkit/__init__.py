"""What the tests and the benchmarks share that is not product code.

Invariants: nothing here is imported by ``bot``, ``handlers`` or ``storage``; nothing here
imports ``tests`` or ``bench``, so a benchmark never depends on the test suite. Product
behaviour (opening a session, filling a registry record, registering a terminal) stays in
``bot``; only the other side's plumbing lives here: where the sample photos are, a
mini-program install's key pair, and a terminal's signed client.
"""
