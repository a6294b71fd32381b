from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from common.exceptions import ApplicationError
from labeling.models import Batch, Project
from labeling.services.batch_import import batch_import


class Command(BaseCommand):
    help = "Import a JSONL (or .jsonl.gz) file as a new batch. Validates every line first; all or nothing."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("file", type=Path)
        parser.add_argument("--project", type=int, required=True)
        parser.add_argument("--name", help="Batch name (default: the file name).")
        parser.add_argument("--priority", type=int, default=0)
        parser.add_argument("--status", choices=Batch.Status.values, default=Batch.Status.LIVE)

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        path: Path = options["file"]
        try:
            project = Project.objects.get(pk=options["project"])
        except (Project.DoesNotExist, Http404):
            raise CommandError(f"No project with id {options['project']}.") from None
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        try:
            with path.open("rb") as stream:
                batch = batch_import(
                    project=project,
                    stream=stream,
                    name=options["name"] or path.name,
                    priority=options["priority"],
                    status=options["status"],
                    source_filename=path.name,
                )
        except ApplicationError as exc:
            for error in exc.errors:
                where = f"line {error['line']}" if error.get("line") else "file"
                field = f" [{error['field']}]" if error.get("field") else ""
                self.stderr.write(f"{path.name}: {where}{field}: {error['message']}")
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Imported {batch.item_count} items as batch {batch.pk} ({batch.name}).")
