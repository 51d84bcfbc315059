from django.urls import path

from reviews import views

app_name = "reviews"

urlpatterns = [
    path("shop/<int:shop_id>/signature/", views.signature_page, name="signature"),
    path("shop/<int:shop_id>/templates/", views.template_list, name="templates"),
]
