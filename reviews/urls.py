from django.urls import path

from reviews import views, views_templates

app_name = "reviews"

urlpatterns = [
    path("shop/<int:shop_id>/signature/", views.signature_page, name="signature"),
    path("shop/<int:shop_id>/signature/check/", views.signature_check_view, name="signature_check"),
    path("shop/<int:shop_id>/signature/withdraw/", views.signature_withdraw_view, name="signature_withdraw"),
    path("shop/<int:shop_id>/templates/", views.template_list, name="templates"),
    path("shop/<int:shop_id>/templates/new/", views_templates.template_new, name="template_new"),
    path("shop/<int:shop_id>/templates/check/", views_templates.template_check_view, name="template_check"),
    path(
        "shop/<int:shop_id>/templates/<int:template_id>/edit/",
        views_templates.template_edit,
        name="template_edit",
    ),
    path(
        "shop/<int:shop_id>/templates/<int:template_id>/withdraw/",
        views_templates.template_withdraw_view,
        name="template_withdraw",
    ),
]
