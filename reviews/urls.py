from django.urls import path

from reviews import views

app_name = "reviews"

urlpatterns = [
    path("shop/<int:shop_id>/signature/", views.signature_page, name="signature"),
    path("shop/<int:shop_id>/signature/check/", views.signature_check_view, name="signature_check"),
    path("shop/<int:shop_id>/signature/withdraw/", views.signature_withdraw_view, name="signature_withdraw"),
    path("shop/<int:shop_id>/templates/", views.template_list, name="templates"),
]
