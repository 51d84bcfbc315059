from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'campaigns'
    verbose_name = "营销任务与客户"  # the admin's section title (was the bare label CAMPAIGNS)
