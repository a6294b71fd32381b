"""The embedded default: SQLite, a Celery worker on the filesystem transport (no Redis), DEBUG on."""

from config.settings.base import *  # noqa: F403
from config.settings.base import BASE_DIR, env, env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)

_queue_dir = BASE_DIR / "var" / "queue"
if not env("CELERY_BROKER_URL") and not env("REDIS_URL"):
    # A real worker process without Redis: kombu's filesystem transport keeps messages in var/queue.
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
    for sub in ("", "processed", "control"):
        (_queue_dir / sub).mkdir(parents=True, exist_ok=True)
