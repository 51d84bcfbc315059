from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SmsmarketingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "smsmarketing"
    verbose_name = "商家与短信账户"

    def ready(self) -> None:
        # Here, not at the top: roles imports auth's models, which exist only once apps are loaded.
        from smsmarketing.roles import sync_reviewer_group

        post_migrate.connect(sync_reviewer_group, dispatch_uid="sync_reviewer_group")
