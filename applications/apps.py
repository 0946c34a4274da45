from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApplicationsConfig(AppConfig):
    name = "applications"
    verbose_name = _("Registry and applications")

    def ready(self) -> None:
        from applications.integrity import ApplicationReplay
        from audit.verify import replay_register

        # Verifying the ledger replays every application's history against the database.
        replay_register(ApplicationReplay)
