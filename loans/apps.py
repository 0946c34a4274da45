from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoansConfig(AppConfig):
    name = "loans"
    verbose_name = _("Microloans")

    def ready(self) -> None:
        from audit.verify import replay_register
        from loans.integrity import LoanReplay
        from loans.services import lending, subsidies

        lending.register()
        subsidies.register()
        replay_register(LoanReplay)
