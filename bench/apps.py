from django.apps import AppConfig


class BenchConfig(AppConfig):
    """The benchmark commands (``bench_send``, ``bench_dispatch``, ``bench_frequency``,
    ``bench_web_seed``); no models, URLs or middleware."""

    name = "bench"
    verbose_name = "Benchmarks (development only)"
