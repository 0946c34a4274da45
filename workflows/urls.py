from django.urls import URLPattern, URLResolver

from workflows import views
from workflows.views import cadre, kin, public, registry, review, status

app_name = "workflows"

urlpatterns: list[URLPattern | URLResolver] = [
    *views.urlpatterns,
    *cadre.urlpatterns,
    *review.urlpatterns,
    *kin.urlpatterns,
    *public.urlpatterns,
    *registry.urlpatterns,
    *status.urlpatterns,
]
