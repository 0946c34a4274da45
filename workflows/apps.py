from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = _("Process and queues")

    def ready(self) -> None:
        from approvals import hooks
        from workflows import checks, sync  # noqa: F401  (checks registers itself)

        hooks.on_created(sync.process_start)
        hooks.on_transition(sync.process_follow, bulk=sync.processes_follow)
