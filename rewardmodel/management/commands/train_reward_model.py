import json

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from common.exceptions import ApplicationError
from labeling.roles import ML, has_role
from rewardmodel.services.training import training_run_create
from rewardmodel.training.model import BUNDLED_MINILM
from rewardmodel.training.trainer import TrainConfig


class Command(BaseCommand):
    help = (
        "Train a reward model on a done export snapshot. By default the run is queued for a Celery worker and "
        "its id printed; --inline trains here and prints the run's metrics as JSON."
    )

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        defaults = TrainConfig()
        parser.add_argument("--snapshot", type=int, required=True, help="Export snapshot id (trl-jsonl or parquet).")
        parser.add_argument("--name", default="")
        parser.add_argument("--user", help="Train as this ML user (their snapshots only; listed on their page).")
        parser.add_argument("--base-model", default=BUNDLED_MINILM, help="bundled:minilm, a hub id or a folder.")
        parser.add_argument("--max-length", type=int, default=defaults.max_length)
        parser.add_argument("--batch-size", type=int, default=defaults.batch_size, help="Pairs per step.")
        parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
        parser.add_argument("--epochs", type=int, default=defaults.epochs)
        parser.add_argument("--seed", type=int, default=defaults.seed)
        parser.add_argument("--no-margin", action="store_true", help="Ignore the export's margins.")
        parser.add_argument("--dropout", action="store_true", help="Train with the model's dropout (off by default).")
        parser.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
        parser.add_argument("--inline", action="store_true", help="Train in this process instead of queueing.")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        user = None
        if options["user"]:
            user = get_user_model().objects.filter(username=options["user"]).first()
            if user is None or not has_role(user, ML):
                raise CommandError(f"No ML user {options['user']!r}.")
        config = TrainConfig(
            base_model=options["base_model"],
            max_length=options["max_length"],
            batch_size=options["batch_size"],
            learning_rate=options["learning_rate"],
            epochs=options["epochs"],
            seed=options["seed"],
            use_margin=not options["no_margin"],
            dropout=options["dropout"],
            checkpoint_every=options["checkpoint_every"],
        )
        try:
            run = training_run_create(
                snapshot_id=options["snapshot"],
                config=config,
                created_by=user,
                name=options["name"],
                run_inline=options["inline"],
            )
        except ApplicationError as exc:
            for error in exc.errors:
                self.stderr.write(f"{error.get('field') or 'config'}: {error['message']}")
            raise CommandError(exc.message) from exc
        if not options["inline"]:
            self.stderr.write(f"Reward model {run.pk} queued; follow it at /reward-models/{run.pk}/.")
            self.stdout.write(json.dumps({"id": run.pk, "status": run.status}))
            return
        if run.status != run.Status.DONE:
            raise CommandError(f"Reward model {run.pk} {run.status}: {run.error}")
        self.stderr.write(f"Reward model {run.pk} done; checkpoint in {run.model_directory}.")
        summary = {"id": run.pk, "status": run.status, "model": str(run.model_directory), **run.summary}
        summary["metrics"] = run.metrics
        self.stdout.write(json.dumps(summary, indent=2))
