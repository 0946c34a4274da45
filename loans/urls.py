from django.urls import URLPattern, URLResolver, path

from loans import views

app_name = "loans"

urlpatterns: list[URLPattern | URLResolver] = [
    path("calculator/", views.calculator_page, name="calculator"),
    path("fund/", views.fund_page, name="fund"),
]
