"""One settings module, driven by the environment.

Development needs nothing set: SQLite under ``var/``, DEBUG on, and a secret key and an
ID-number encryption key generated on first run into ``var/dev-keys.json`` (never
committed). Production sets ``DJANGO_DEBUG=false`` and must then provide
``DJANGO_SECRET_KEY``, ``DJANGO_ALLOWED_HOSTS``, ``FUPIN_ID_KEY``, ``FUPIN_PUBLIC_URL`` and
``DATABASE_URL``.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from cryptography.fernet import Fernet
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("FUPIN_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _env_bool("DJANGO_DEBUG", True)


def _dev_keys() -> dict[str, str]:
    """Keys for development only, generated once per checkout and kept out of git."""
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    path = VAR_DIR / "dev-keys.json"
    if path.exists():
        keys: dict[str, str] = json.loads(path.read_text())
    else:
        keys = {}
    changed = False
    if "secret_key" not in keys:
        keys["secret_key"] = secrets.token_urlsafe(50)
        changed = True
    if "id_key" not in keys:
        keys["id_key"] = Fernet.generate_key().decode()
        changed = True
    if changed:
        path.write_text(json.dumps(keys, indent=2))
        path.chmod(0o600)
    return keys


def _required(name: str) -> str:
    value = os.environ.get(name, "")
    if value:
        return value
    if DEBUG:
        return _dev_keys()["secret_key" if name == "DJANGO_SECRET_KEY" else "id_key"]
    raise ImproperlyConfigured(f"{name} must be set when DJANGO_DEBUG is false")


SECRET_KEY = _required("DJANGO_SECRET_KEY")
# Comma-separated Fernet keys; the first encrypts, all decrypt (key rotation).
FUPIN_ID_KEYS = [k.strip() for k in _required("FUPIN_ID_KEY").split(",") if k.strip()]
for _key in FUPIN_ID_KEYS:
    try:
        Fernet(_key)
    except ValueError:
        raise ImproperlyConfigured(
            "FUPIN_ID_KEY holds a value that is not a Fernet key (44 characters of URL-safe "
            'base64); generate one with: python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"'
        ) from None

ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get(
        "DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else ""
    ).split(",")
    if h.strip()
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "config.apps.AxesConfig",
    "django_tasks",
    "config.apps.TasksDatabaseConfig",
    "viewflow",
    "viewflow.workflow",
    "common",
    "audit",
    "applications",
    "approvals",
    "payments",
    "loans",
    "documents",
    "crosscheck",
    "workflows",
    "inspection",
    "operations",
    "demo",
]

MIDDLEWARE = [
    # First: /healthz answers the monitoring before the host check and the HTTPS redirect.
    "common.middleware.HealthCheck",
    # The client's address behind nginx, for the lockouts and throttles below.
    "common.middleware.ForwardedClient",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After a user's write, their pages read the primary for a while (common.replica).
    "common.replica.StickToPrimaryAfterWrites",
    "django.middleware.locale.LocaleMiddleware",
    "common.middleware.RefuseNulBytes",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: turns a lockout met by a login (page or API) into its answer.
    "axes.middleware.AxesMiddleware",
]

# The proxies in front of the site (nginx), whose X-Forwarded-For and X-Forwarded-Proto are
# believed (common.middleware.ForwardedClient here, gunicorn for the scheme).
FUPIN_FORWARDED_ALLOW_IPS = [
    a.strip()
    for a in os.environ.get("FUPIN_FORWARDED_ALLOW_IPS", "127.0.0.1,::1").split(",")
    if a.strip()
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES: list[dict[str, Any]] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        # 0 (a connection per request) by default: a threaded server with persistent
        # connections keeps one per thread it ever started and runs PostgreSQL out of its
        # 100. Production sets it (see the README): gunicorn's workers × threads bound it.
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the timer loop and the web server share the file;
    # IMMEDIATE makes every write transaction take the write lock up front, which is
    # SQLite's form of the row lock the services ask for.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False

# DATABASE_PREPARED (on unless set to false): PostgreSQL binds the parameters itself and
# keeps a plan for what a connection runs again and again (the chain's steps run the same
# dozen statements), rather than psycopg quoting them into the text of every statement: a
# chain step about a tenth cheaper (README, Performance). A statement with more parameters
# than the protocol carries (65,535) is still quoted into its text, and one matching a
# pattern (an area's scope) is planned at each call (common.postgres). A connection's
# prepared statements outlive a migration that changes a table's columns: the processes are
# restarted after one (deploy/systemd: the web unit migrates before it starts, the others
# start after it). A pooler in transaction mode keeps prepared statements only if it is
# PgBouncer 1.22 or later with max_prepared_statements set; behind another, set it to false.
_prepared = _env_bool("DATABASE_PREPARED", True)
_PREPARED: dict[str, object] = {}
if _prepared and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    from common.postgres import BoundedServerBindingCursor

    _PREPARED = {
        "server_side_binding": True,
        "prepare_threshold": 2,
        "cursor_factory": BoundedServerBindingCursor,
    }
    DATABASES["default"].setdefault("OPTIONS", {}).update(_PREPARED)

# A PostgreSQL streaming replica for the reads that may lag (common.replica): the inspectors'
# searches and exports, the dashboards, the cross-check scans. In tests it mirrors the
# primary's test database (the replica streams it).
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"],
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    # A replica that does not answer fails its pages (and /healthz) in seconds, not minutes.
    DATABASES["replica"].setdefault("OPTIONS", {})["connect_timeout"] = 5
    DATABASES["replica"]["OPTIONS"].update(_PREPARED)
DATABASE_ROUTERS = ["common.replica.ReplicaRouter"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out user or address before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Failed sign-ins (django-axes), on the login page and the API's token alike: counted per
# user name and, apart, per address; FUPIN_LOGIN_FAILURES in a row lock that user name (or
# that address) out for FUPIN_LOGIN_LOCKOUT_MINUTES. Every failure and lockout is on the
# audit trail (applications.security); an admin unlocks, audited.
AXES_FAILURE_LIMIT = int(os.environ.get("FUPIN_LOGIN_FAILURES", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("FUPIN_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success clears that user name's failures only (applications.security): axes' own reset
# would clear the address's too, and with it another user's count from the same address.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "applications.security.lockout_response"
AXES_ENABLE_ADMIN = False  # ours: read-only but for the audited unlock (applications.admin)
AXES_VERBOSE = False
ANONYMOUS_USER_NAME = None  # guardian: the public never holds permissions
GUARDIAN_RAISE_403 = False
GUARDIAN_MONKEY_PATCH_USER = False

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "config.staticfiles.AppDirectoriesFinder",  # without viewflow's own front end
]
STATIC_ROOT = VAR_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("FUPIN_MEDIA_ROOT", VAR_DIR / "media"))
# Where `manage.py audit_anchor` appends the audit chain anchors. In production: a place the
# database administrator cannot rewrite (a mount of another machine, write-once storage).
FUPIN_AUDIT_ANCHOR_FILE = Path(
    os.environ.get("FUPIN_AUDIT_ANCHOR_FILE", VAR_DIR / "anchors" / "anchors.jsonl")
)
# Where `manage.py backup` writes, one directory per backup (operations.backups).
FUPIN_BACKUP_DIR = Path(os.environ.get("FUPIN_BACKUP_DIR", VAR_DIR / "backups"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
# After signing out: the sign-in page (not the admin's "logged out" page).
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Content security policy (django-csp): scripts, styles, fonts and pictures from this site
# only (no inline script or style anywhere: the pages, the admin and the API's documents keep
# theirs in files), pictures also as data: URIs (the QR codes), no plugins, no framing, forms
# posting here only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=int(os.environ.get("FUPIN_TOKEN_HOURS", "12"))),
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Expiring tokens, stored as digests, revoked at sign-out and a new password (knox's,
        # with expired tokens deleted by the timers rather than at every request).
        "applications.security.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "common.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "applications.api_pagination.Pagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"public_objection": "10/hour"},
    # Throttles count REMOTE_ADDR, which common.middleware.ForwardedClient has set from the
    # proxy's header; DRF's own reading of X-Forwarded-For would believe any client.
    "NUM_PROXIES": 0,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "精准扶贫 审批 API",
    "DESCRIPTION": (
        "Subsidy and loan applications from the village to the money. A refused request "
        "(403, 404, 409) answers `detail`, a sentence in the user's language, and `code`, "
        "a stable reason from `RefusalCodeEnum` for clients to act on."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served locally: county networks are often offline
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ApplicationStatusEnum": "applications.models.Application.Status",
        "HouseholdStatusEnum": "applications.models.Household.Status",
        "PovertyCauseEnum": "applications.models.Household.Cause",
        "ObjectionStatusEnum": "approvals.models.Objection.Status",
        "AttachmentKindEnum": "approvals.models.Attachment.Kind",
        "DocumentKindEnum": "documents.models.StoredDocument.Kind",
        "DocumentBatchKindEnum": "documents.models.DocumentBatch.Kind",
        "DocumentBatchStatusEnum": "documents.models.DocumentBatch.Status",
        "RefusalCodeEnum": "common.errors.Code",
        "PaymentRoundStatusEnum": "payments.models.PaymentRound.Status",
        "PaymentLineStatusEnum": "payments.models.PaymentLine.Status",
        "LoanStatusEnum": "loans.models.Loan.Status",
        "SubsidyPayeeEnum": "loans.models.LoanParameters.Payee",
        "AcceptanceResultEnum": "payments.models.Acceptance.Result",
        "PersonRelationEnum": "applications.models.Person.Relation",
        "KinRelationEnum": "applications.models.KinDeclaration.Relation",
        "ReferenceListKindEnum": "crosscheck.models.ReferenceList.Kind",
        "LeadStatusEnum": "crosscheck.models.Lead.Status",
        "LeadSeverityEnum": "crosscheck.models.Lead.Severity",
    },
}

VIEWFLOW = {"AUTOREGISTER": False}

# Background jobs (document batches): Django's tasks API, queued in the database and run by
# `manage.py db_worker`; no other server needed. FUPIN_TASKS_IMMEDIATE=1 runs them in the
# request instead (no worker).
TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks.backends.immediate.ImmediateBackend"
            if _env_bool("FUPIN_TASKS_IMMEDIATE", False)
            else "django_tasks_db.DatabaseBackend"
        ),
        "QUEUES": ["default"],
    }
}

# A registry sheet up to this size is imported while its sender waits (about 5,000 people,
# a few seconds); a larger one runs in the background on the task worker.
FUPIN_IMPORT_INLINE_BYTES = int(os.environ.get("FUPIN_IMPORT_INLINE_BYTES", str(512 * 1024)))

# /healthz (common.health): the timers and the task worker fail the check when their last sign
# of life is older than this; the disk holding the stored files when it has less free space.
FUPIN_HEALTH_STALE_SECONDS = int(os.environ.get("FUPIN_HEALTH_STALE_SECONDS", "300"))
FUPIN_HEALTH_DISK_MIN_MB = int(os.environ.get("FUPIN_HEALTH_DISK_MIN_MB", "1024"))
# ... and the read replica when its replay is further behind the primary's log than this.
FUPIN_HEALTH_REPLICA_LAG_MB = int(os.environ.get("FUPIN_HEALTH_REPLICA_LAG_MB", "64"))

# Development: one process's memory. Production runs many web processes, which must share
# what they count (the public objections per address and hour): the database's table
# (common.models.CacheEntry).
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
        if DEBUG
        else {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "fupin_cache"}
    )
}

# Production hardening: on whenever DEBUG is off.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = _env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = 0 if DEBUG else int(os.environ.get("DJANGO_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}

# The encoding of the county's agent bank's files (代发文件 written, 回盘文件 detected).
# The address villagers and inspectors reach the site at: printed, with a QR code, on every
# document (stored once, so a wrong address stays on paper). Required in production.
FUPIN_PUBLIC_URL = os.environ.get("FUPIN_PUBLIC_URL", "") or (
    "http://127.0.0.1:8000" if DEBUG else ""
)
if not FUPIN_PUBLIC_URL:
    raise ImproperlyConfigured("FUPIN_PUBLIC_URL must be set when DJANGO_DEBUG is false")
FUPIN_BANK_ENCODING = os.environ.get("FUPIN_BANK_ENCODING", "gb18030")
if FUPIN_BANK_ENCODING not in ("gb18030", "utf-8"):
    raise ImproperlyConfigured("FUPIN_BANK_ENCODING is gb18030 or utf-8.")
