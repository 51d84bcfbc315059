from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'campaigns'
    verbose_name = "营销任务与客户"  # the admin's section title (was the bare label CAMPAIGNS)

    def ready(self) -> None:
        # Here, not at the top: the collector's module imports models, which exist only once
        # apps are loaded. Registered once per process (ready() runs once).
        from django_q.signals import post_spawn

        from campaigns.metrics import PipelineCollector
        from campaigns.services.recovery import recover_on_worker_start
        from smsmarketing.health import DATABASE_METRICS

        DATABASE_METRICS.register(PipelineCollector())
        # A django-q2 worker process starting (a cluster's start, a dead worker's replacement)
        # resumes the runs a dead worker left at once (docs/OPERATIONS.md, recovery after a crash).
        post_spawn.connect(recover_on_worker_start, dispatch_uid="campaigns-recover-on-worker-start")
        # A removed shop member's API keys are revoked with the removal (campaigns.members).
        from campaigns.members import removal_effects, revoke_keys_of_removed_member
        from smsmarketing.signals import member_removal_effects, member_removed

        member_removed.connect(revoke_keys_of_removed_member, dispatch_uid="campaigns-revoke-member-keys")
        member_removal_effects.connect(removal_effects, dispatch_uid="campaigns-member-key-effects")
