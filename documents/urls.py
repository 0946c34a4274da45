from django.urls import path

from documents import views

app_name = "documents"

urlpatterns = [
    path("<int:pk>/download/", views.document_download, name="download"),
    path("verify/", views.document_verify_page, name="verify"),
    path("verify/<str:code>/", views.document_verify_page, name="verify_code"),
]
