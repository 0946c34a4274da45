from django.urls import path

from documents import views

app_name = "documents"

urlpatterns = [
    path("<int:pk>/download/", views.document_download, name="download"),
    path("issue/", views.document_issue_page, name="issue"),
    path(
        "payment-rounds/<int:round_id>/list/",
        views.payment_list_download,
        name="payment_list",
    ),
    path("loans/<int:loan_id>/card/", views.loan_card_download, name="loan_card"),
    path("subsidy-lists/", views.subsidy_list_download, name="subsidy_list"),
    path("verify/", views.document_verify_page, name="verify"),
    path("verify/<str:code>/", views.document_verify_page, name="verify_code"),
    path("batches/", views.batches_page, name="batches"),
    path("batches/<int:pk>/", views.batch_page, name="batch"),
    path("batches/<int:pk>/download/", views.batch_download, name="batch_download"),
    path(
        "applications/<int:application_id>/signed-agreement/",
        views.signed_agreement_page,
        name="signed_agreement",
    ),
]
