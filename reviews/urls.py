from django.urls import path

from reviews.views import content as content_views
from reviews.views import signatures as signature_views
from reviews.views import templates as template_views

app_name = "reviews"

urlpatterns = [
    path("shop/<int:shop_id>/signature/", signature_views.signature_page, name="signature"),
    path("shop/<int:shop_id>/signature/check/", signature_views.signature_check_view, name="signature_check"),
    path(
        "shop/<int:shop_id>/signature/withdraw/",
        signature_views.signature_withdraw_view,
        name="signature_withdraw",
    ),
    path("shop/<int:shop_id>/content/punctuation/", content_views.punctuation_view, name="punctuation"),
    path("shop/<int:shop_id>/templates/", template_views.template_list, name="templates"),
    path("shop/<int:shop_id>/templates/new/", template_views.template_new, name="template_new"),
    path("shop/<int:shop_id>/templates/check/", template_views.template_check_view, name="template_check"),
    path(
        "shop/<int:shop_id>/templates/<int:template_id>/edit/",
        template_views.template_edit,
        name="template_edit",
    ),
    path(
        "shop/<int:shop_id>/templates/<int:template_id>/withdraw/",
        template_views.template_withdraw_view,
        name="template_withdraw",
    ),
]
