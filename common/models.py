"""Abstract models shared by the apps above, and the one table of ``common``: the
heartbeats of the processes that run beside the web server (``common.health``)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class BatchJob(models.Model):
    """A job run in the background by ``common.batches``: its state, its progress, and what
    the runner needs to give it exactly one worker and to recover it when that worker dies.
    A concrete job adds what it is about and what it produces."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    total = models.PositiveIntegerField(_("items in the job"), default=0)
    done = models.PositiveIntegerField(_("items done"), default=0)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Written by the worker when it claims the job and at every step: a running job whose
    # heartbeat has gone quiet lost its worker (``common.batches.batches_recover``).
    heartbeat_at = models.DateTimeField(_("last sign of progress"), null=True, blank=True)
    # How many times a worker has started it; the claim counts it, the recovery sweep gives
    # up after the queue's ``max_attempts``.
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # The task that will run it, set once the task queue has taken it: a queued job with no
    # task (the enqueue after the commit failed, or the process died before it) or whose
    # task has ended is put in the queue again by the recovery sweep.
    task_id = models.CharField(_("task"), max_length=64, blank=True)
    enqueued_at = models.DateTimeField(_("queued at"), null=True, blank=True)

    class Meta:
        abstract = True


class Heartbeat(models.Model):
    """The last sign of life of a process that runs beside the web server: the timers
    (``process_timers``, at the end of every run) and the task worker (when it runs the ping
    the timers send it). ``/healthz`` reads their age."""

    name = models.CharField(_("process"), max_length=40, primary_key=True)
    beat_at = models.DateTimeField(_("last sign of life"))

    class Meta:
        verbose_name = _("heartbeat")
        verbose_name_plural = _("heartbeats")

    def __str__(self) -> str:
        return f"{self.name} {self.beat_at.isoformat()}"


class CacheEntry(models.Model):
    """The table of Django's database cache (``CACHES`` when ``DEBUG`` is off): what must be
    counted across every web process, such as the public objections per address and hour,
    lives here rather than in one process's memory. Laid out as ``createcachetable`` makes
    it, and created by a migration so that no deployment forgets that command."""

    cache_key = models.CharField(max_length=255, primary_key=True)
    value = models.TextField()
    expires = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "fupin_cache"
        verbose_name = _("cache entry")
        verbose_name_plural = _("cache entries")

    def __str__(self) -> str:
        return self.cache_key
