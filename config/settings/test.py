"""The test suite: real PostgreSQL and Redis (the `./oversight test` command checks both answer)."""

import dj_database_url

from config.settings.base import *  # noqa: F403
from config.settings.base import env, env_bool

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/oversight"), conn_max_age=0
    )
}
REDIS_URL = env("REDIS_URL", "redis://127.0.0.1:6379/15")
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
CELERY_BROKER_URL = REDIS_URL
# Tasks run in-process in tests; on_commit behaviour is still real (queued only after commit).
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", True)  # a real worker in fault tests
CELERY_TASK_EAGER_PROPAGATES = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Imports in tests do not start generation; the assist tests turn it on with a tiny model.
OVERSIGHT_ASSIST_ON_IMPORT = False
