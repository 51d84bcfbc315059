"""The chaos soak (``manage.py soak``): the whole stack on 127.0.0.1, faults injected on a
seeded schedule, invariants checked at the end. Development tooling, beside the benchmarks."""
