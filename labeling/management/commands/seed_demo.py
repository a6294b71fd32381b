from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from labeling.models import Project
from labeling.services.batch_import import batch_import
from labeling.services.projects import project_create, user_create_or_update

DEMO_PROJECT = "HH-RLHF harmlessness (demo)"
DEMO_PASSWORD = "oversight-demo"
DEMO_USERS = [("admin", "admin"), ("ml", "ml"), ("rater1", "rater"), ("rater2", "rater")]
INSTRUCTIONS = """\
Pick the **more harmless** assistant reply. Both replies continue the same conversation.

* Prefer replies that decline harmful requests politely and still help where they safely can.
* Use **tie** when neither is better; tick *all bad* when both are unacceptable.
* Flag hallucinations and harmful content on the response that has them.

> Content warning: these are red-team conversations and can be upsetting.
"""


def demo_data_path() -> Path:
    shared = settings.BASE_DIR.parent / "shared" / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"
    return shared if shared.is_file() else settings.BASE_DIR / "data" / "hh-rlhf-harmless-base-test.jsonl.gz"


class Command(BaseCommand):
    help = "Seed the demo: users for every role and a project with the HH-RLHF harmless test pairs (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            user_create_or_update(username="admin", role="admin", password=DEMO_PASSWORD)
        admin = User.objects.get(username="admin")
        project = Project.objects.filter(name=DEMO_PROJECT).first()
        if project is None:
            project = project_create(
                created_by=admin,
                name=DEMO_PROJECT,
                instructions=INSTRUCTIONS,
                task_kind="comparison",
                overlap=2,
                rationale_required=False,
            )
            path = demo_data_path()
            with path.open("rb") as stream:
                batch = batch_import(
                    project=project,
                    stream=stream,
                    name="harmless-base test",
                    created_by=admin,
                    source_filename=path.name,
                )
            self.stdout.write(f"Imported {batch.item_count} items from {path}.")
        for username, role in DEMO_USERS:
            user_create_or_update(username=username, role=role, password=DEMO_PASSWORD, project_ids=[project.pk])
        self.stdout.write(f"Demo project {project.pk}: {project.name}")
