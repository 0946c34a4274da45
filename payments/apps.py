from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = _("Payments")

    def ready(self) -> None:
        from audit.verify import replay_register
        from payments.integrity import PaymentReplay

        replay_register(PaymentReplay)
