from django.urls import URLPattern, URLResolver, path

from inspection import leads, views

app_name = "inspection"

urlpatterns: list[URLPattern | URLResolver] = [
    path("inspect/flags/", leads.red_flags_page, name="red_flags"),
    path("inspect/leads/", leads.leads_page, name="leads"),
    path("inspect/leads/export.xlsx", leads.leads_export_xlsx, name="leads_export_xlsx"),
    path("inspect/leads/<int:pk>/", leads.lead_page, name="lead"),
    path("inspect/lists/", leads.lists_page, name="lists"),
    path("inspect/scans/", leads.scan_start, name="scan_start"),
    path("inspect/audit/", views.audit_search_page, name="audit"),
    path("inspect/audit/export.csv", views.audit_export_csv, name="audit_export_csv"),
    path("inspect/audit/export.xlsx", views.audit_export_xlsx, name="audit_export_xlsx"),
    path("inspect/verify/", views.audit_verify_page, name="audit_verify"),
]
