"""Shared set-up for benchmarks: a fresh PostgreSQL database `oversight_bench`, migrated."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
HH_FILE = ROOT.parent / "shared" / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"
if not HH_FILE.is_file():
    HH_FILE = ROOT / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"


def django_on_fresh_database(name: str = "oversight_bench") -> None:
    import psycopg

    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/oversight").rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = f"{base}/{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
