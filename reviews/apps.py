from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'reviews'
    verbose_name = "平台审核（签名与模板）"

    def ready(self) -> None:
        # Imported here: the receivers' module imports the models, which exist only once apps load.
        from reviews.signals import connect

        connect()
