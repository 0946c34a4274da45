from django.urls import URLPattern, URLResolver, path

from inspection import views

app_name = "inspection"

urlpatterns: list[URLPattern | URLResolver] = [
    path("inspect/flags/", views.red_flags_page, name="red_flags"),
    path("inspect/audit/", views.audit_search_page, name="audit"),
    path("inspect/audit/export.csv", views.audit_export_csv, name="audit_export_csv"),
    path("inspect/audit/export.xlsx", views.audit_export_xlsx, name="audit_export_xlsx"),
    path("inspect/verify/", views.audit_verify_page, name="audit_verify"),
]
