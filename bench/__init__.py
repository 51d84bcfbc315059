"""Development-only tooling: the benchmarks, their CPU tools and the SMPP simulator.

Installed only by ``smsmarketing.settings_test`` and ``smsmarketing.settings_bench``; the
production settings never list it, and no product app imports it (import-linter).
"""
