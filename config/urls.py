from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from applications.api import (
    AreaViewSet,
    HouseholdImportViewSet,
    HouseholdViewSet,
    KinDeclarationViewSet,
    PersonViewSet,
    ProgramViewSet,
)
from approvals.api import ApplicationViewSet, AuditViewSet, ObjectionViewSet, TokenView
from loans.api import (
    FundDepositView,
    LoanCalculatorView,
    LoanViewSet,
    ReferenceRateViewSet,
    RiskFundView,
)
from loans.subsidy_api import SubsidyClaimViewSet
from payments.api import (
    AcceptanceRejectView,
    AcceptanceSampleViewSet,
    AcceptanceView,
    PaymentRoundViewSet,
    RectificationView,
)
from workflows.api import DashboardView

router = DefaultRouter()
router.register("areas", AreaViewSet, basename="area")
router.register("programs", ProgramViewSet, basename="program")
router.register("households", HouseholdViewSet, basename="household")
router.register("household-imports", HouseholdImportViewSet, basename="household-import")
router.register("persons", PersonViewSet, basename="person")
router.register("kin-declarations", KinDeclarationViewSet, basename="kin-declaration")
router.register("applications", ApplicationViewSet, basename="application")
router.register("objections", ObjectionViewSet, basename="objection")
router.register("audit", AuditViewSet, basename="audit")
router.register("payment-rounds", PaymentRoundViewSet, basename="payment-round")
router.register("acceptance-samples", AcceptanceSampleViewSet, basename="acceptance-sample")
router.register("reference-rates", ReferenceRateViewSet, basename="reference-rate")
router.register("loans", LoanViewSet, basename="loan")
router.register("interest-subsidies", SubsidyClaimViewSet, basename="interest-subsidy")

# The admin under the site's name, in the reader's language (not "Django administration").
admin.site.site_header = gettext_lazy("Poverty alleviation approvals: administration")
admin.site.site_title = gettext_lazy("Poverty alleviation approvals")
admin.site.index_title = gettext_lazy("Records (read-only)")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("documents/", include("documents.urls")),
    path("api/v1/auth/token/", TokenView.as_view(), name="api-token"),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view: its script is a file, not inline (the content security policy). Swagger
    # UI writes its own <style> elements: that page alone allows inline styles (never scripts).
    path(
        "api/v1/docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    # Documents, batches and attachments: before the router, whose application routes
    # would not know /applications/{id}/attachments/.
    path("api/v1/", include("documents.api")),
    path("api/v1/", include("crosscheck.api")),
    path(
        "api/v1/applications/<int:pk>/acceptance/",
        AcceptanceView.as_view(),
        name="application-acceptance",
    ),
    path(
        "api/v1/applications/<int:pk>/acceptance/rectification/",
        RectificationView.as_view(),
        name="application-acceptance-rectification",
    ),
    path(
        "api/v1/applications/<int:pk>/acceptance/reject/",
        AcceptanceRejectView.as_view(),
        name="application-acceptance-reject",
    ),
    path("api/v1/", include(router.urls)),
    path("api/v1/dashboard/", DashboardView.as_view(), name="dashboard"),
    path("api/v1/loan-calculator/", LoanCalculatorView.as_view(), name="loan-calculator"),
    path("api/v1/risk-funds/<str:county>/", RiskFundView.as_view(), name="risk-fund"),
    path(
        "api/v1/risk-funds/<str:county>/deposits/",
        FundDepositView.as_view(),
        name="risk-fund-deposits",
    ),
    path("payments/", include("payments.urls")),
    path("loans/", include("loans.urls")),
    path("", include("workflows.urls")),
    path("", include("inspection.urls")),
]

handler400 = "common.error_pages.bad_request"
handler403 = "common.error_pages.permission_denied"
handler404 = "common.error_pages.page_not_found"
handler500 = "common.error_pages.server_error"
