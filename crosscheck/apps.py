from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrosscheckConfig(AppConfig):
    name = "crosscheck"
    verbose_name = _("Cross-checks")
