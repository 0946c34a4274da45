"""The static files of the installed apps, but for viewflow's own front end (about 80 MB of
scripts, maps and fonts for its pages, which this site does not use: its pages are ours)
and the source maps of the rest. WhiteNoise compresses everything ``collectstatic`` gathers,
at every start of ``make serve`` and of the web unit: with those, that took most of a
minute (55 s); without, 7 s."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib.staticfiles.finders import AppDirectoriesFinder as Base
from django.core.files.storage import Storage

LEFT_OUT_APPS = ("viewflow", "viewflow.workflow")
LEFT_OUT_FILES = ["*.map"]


class AppDirectoriesFinder(Base):
    def __init__(self, app_names: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(app_names, *args, **kwargs)
        for name in LEFT_OUT_APPS:
            self.storages.pop(name, None)
            if name in self.apps:
                self.apps.remove(name)

    def list(self, ignore_patterns: Iterable[str] | None) -> Iterator[tuple[str, Storage]]:
        yield from super().list([*(ignore_patterns or []), *LEFT_OUT_FILES])
