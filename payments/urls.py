from django.urls import URLPattern, URLResolver, path

from payments.views import acceptance, rounds

app_name = "payments"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", rounds.rounds_page, name="rounds"),
    path("<int:pk>/", rounds.round_page, name="round"),
    path("<int:pk>/approve/", rounds.round_approve, name="approve"),
    path("<int:pk>/cancel/", rounds.round_cancel, name="cancel"),
    path("<int:pk>/bank-file/", rounds.bank_file, name="bank_file"),
    path("<int:pk>/bank-return/", rounds.bank_return, name="bank_return"),
    path("acceptance/", acceptance.acceptance_page, name="acceptance"),
    path("acceptance/<int:pk>/visit/", acceptance.visit, name="visit"),
    path("acceptance/<int:pk>/rectification/", acceptance.rectification, name="rectification"),
    path("acceptance/<int:pk>/reject/", acceptance.reject, name="reject"),
    path("samples/", acceptance.samples_page, name="samples"),
    path("samples/<int:pk>/", acceptance.sample_page, name="sample"),
    path("samples/<int:pk>/recheck/<int:application_id>/", acceptance.recheck, name="recheck"),
]
