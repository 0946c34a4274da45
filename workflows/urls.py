from django.urls import URLPattern, URLResolver

from workflows import views
from workflows.views import cadre, inspect, kin, public, review

app_name = "workflows"

urlpatterns: list[URLPattern | URLResolver] = [
    *views.urlpatterns,
    *cadre.urlpatterns,
    *review.urlpatterns,
    *inspect.urlpatterns,
    *kin.urlpatterns,
    *public.urlpatterns,
]
