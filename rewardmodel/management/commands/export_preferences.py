import shutil
import sys
from pathlib import Path

import orjson
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from common.exceptions import ApplicationError
from labeling.roles import ML, has_role
from rewardmodel.formats import FORMATS
from rewardmodel.services.snapshots import AGGREGATIONS, TIE_POLICIES, ExportDefinition, snapshot_create


class Command(BaseCommand):
    help = (
        "Export a preference dataset snapshot (built here, not queued). Prints a JSON summary on stdout; "
        "--out copies the files (data, README.md dataset card) into a folder."
    )

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("--project", type=int, action="append", default=[], help="Project id (repeatable).")
        parser.add_argument("--batch", type=int, action="append", default=[], help="Only these batches (repeatable).")
        parser.add_argument("--format", choices=sorted(FORMATS), default="trl-jsonl")
        parser.add_argument("--name", default="")
        parser.add_argument("--user", help="Export as this ML user: their projects only, listed on their page.")
        parser.add_argument("--exclude-gold", action="store_true")
        parser.add_argument("--exclude-all-bad", action="store_true")
        parser.add_argument("--exclude-flag", action="append", default=[], help="Flag name (repeatable).")
        parser.add_argument("--min-rater-accuracy", type=float, help="Minimum rater gold accuracy, 0..1.")
        parser.add_argument("--min-agreement", type=float, help="Minimum item agreement, 0..1.")
        parser.add_argument("--aggregation", choices=AGGREGATIONS, default="every")
        parser.add_argument("--ties", choices=TIE_POLICIES, default="drop")
        parser.add_argument("--use-reference", action="store_true", help="Label items with imported references.")
        parser.add_argument("--no-margin", action="store_true", help="Write margin 0.0 instead of strength.")
        parser.add_argument("--test-fraction", type=float, default=0.1)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--license", default="unknown")
        parser.add_argument("--out", type=Path, help="Copy the snapshot's files into this folder.")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None or not has_role(user, ML):
                raise CommandError(f"No ML user {options['user']!r}.")
        definition = ExportDefinition(
            format=options["format"],
            projects=tuple(options["project"]),
            batches=tuple(options["batch"]),
            exclude_gold=options["exclude_gold"],
            exclude_all_bad=options["exclude_all_bad"],
            exclude_flags=tuple(options["exclude_flag"]),
            min_rater_gold_accuracy=options["min_rater_accuracy"],
            min_item_agreement=options["min_agreement"],
            aggregation=options["aggregation"],
            ties=options["ties"],
            use_reference=options["use_reference"],
            margin="none" if options["no_margin"] else "strength",
            test_fraction=options["test_fraction"],
            seed=options["seed"],
            license=options["license"],
        )
        try:
            snapshot = snapshot_create(definition=definition, created_by=user, name=options["name"], run_inline=True)
        except ApplicationError as exc:
            for error in exc.errors:
                self.stderr.write(f"{error.get('field') or 'definition'}: {error['message']}")
            raise CommandError(exc.message) from exc
        out: Path | None = options["out"]
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for entry in snapshot.files:
                shutil.copyfile(snapshot.directory / entry["name"], out / entry["name"])
        rows = snapshot.counts["rows"]
        self.stderr.write(
            f"Export {snapshot.pk}: {rows['train']} train and {rows['test']} test rows, hash {snapshot.content_hash}."
        )
        summary = {
            "id": snapshot.pk,
            "status": snapshot.status,
            "rows": rows,
            "content_hash": snapshot.content_hash,
            "directory": str(out or snapshot.directory),
            "files": [entry["name"] for entry in snapshot.files],
        }
        sys.stdout.flush()
        self.stdout.write(orjson.dumps(summary).decode())
