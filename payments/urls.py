from django.urls import URLPattern, URLResolver, path

from payments import views

app_name = "payments"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.rounds_page, name="rounds"),
    path("<int:pk>/", views.round_page, name="round"),
    path("<int:pk>/approve/", views.round_approve, name="approve"),
    path("<int:pk>/cancel/", views.round_cancel, name="cancel"),
    path("<int:pk>/bank-file/", views.bank_file, name="bank_file"),
    path("<int:pk>/bank-return/", views.bank_return, name="bank_return"),
]
