from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoansConfig(AppConfig):
    name = "loans"
    verbose_name = _("Microloans")

    def ready(self) -> None:
        from loans.services import lending

        lending.register()
