from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApplicationsConfig(AppConfig):
    name = "applications"
    verbose_name = _("Registry and applications")

    def ready(self) -> None:
        from django.contrib import admin

        # API tokens are digests nobody reads: not in the admin at all.
        from knox.models import AuthToken

        from applications import security  # noqa: F401 (its signal receivers)
        from applications.admin import admin_read_only
        from applications.integrity import ApplicationReplay
        from audit.verify import replay_register

        if admin.site.is_registered(AuthToken):
            admin.site.unregister(AuthToken)
        # The admin app discovered every app's admin module before this (it is listed
        # first): now each model it shows is made read-only.
        admin_read_only(admin.site)

        # Verifying the ledger replays every application's history against the database.
        replay_register(ApplicationReplay)
