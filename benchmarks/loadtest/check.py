"""After a load run: the audit trail verifies (every hash, link and head, and the replay of
every application's history against the database; the load county has no loans or payment
rounds to replay) and no process is out of step with its application
(``process_divergences``). Exits 1 otherwise."""

from __future__ import annotations

import os
import sys


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from applications.integrity import ApplicationReplay
    from audit.verify import ledger_verify
    from workflows.selectors import process_divergences

    report = ledger_verify(replayers=[ApplicationReplay()])
    diverged = list(process_divergences().values_list("pk", flat=True)[:20])
    print(
        f"after the run: {report.entries:,} audit entries "
        f"{'verify' if report.ok else 'DO NOT VERIFY: ' + str(report.first_problem)}; "
        f"{'no process out of step' if not diverged else f'processes out of step: {diverged}'}"
    )
    return 0 if report.ok and not diverged else 1


if __name__ == "__main__":
    sys.exit(main())
