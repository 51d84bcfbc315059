from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'campaigns'
    verbose_name = "营销任务与客户"  # the admin's section title (was the bare label CAMPAIGNS)

    def ready(self) -> None:
        # Here, not at the top: the collector's module imports models, which exist only once
        # apps are loaded. Registered once per process (ready() runs once).
        from campaigns.metrics import PipelineCollector
        from smsmarketing.health import DATABASE_METRICS

        DATABASE_METRICS.register(PipelineCollector())
