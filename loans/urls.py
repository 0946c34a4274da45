from django.urls import URLPattern, URLResolver, path

from loans import views
from loans.views import bank, filing, subsidies

app_name = "loans"

urlpatterns: list[URLPattern | URLResolver] = [
    path("calculator/", views.calculator_page, name="calculator"),
    path("fund/", views.fund_page, name="fund"),
    path("households/<int:pk>/apply/", filing.loan_apply, name="apply"),
    path("bank/", bank.bank_desk, name="bank"),
    path("bank/applications/<int:pk>/", bank.bank_application, name="bank_application"),
    path("bank/applications/<int:pk>/act/", bank.bank_application_act, name="bank_application_act"),
    path("<int:pk>/", bank.loan_page, name="loan"),
    path("<int:pk>/act/", bank.loan_act, name="loan_act"),
    path("subsidies/", subsidies.subsidies_page, name="subsidies"),
]
