from django.core.management.base import BaseCommand, CommandError

from common.exceptions import ApplicationError
from labeling.roles import ROLES
from labeling.services.projects import user_create_or_update


class Command(BaseCommand):
    help = "Create or update a user with a role and project memberships; prints the user's API token."

    def add_arguments(self, parser) -> None:  # type: ignore[no-untyped-def]
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument("--password", help="Set this password (otherwise a new user cannot log in).")
        parser.add_argument("--project", type=int, action="append", default=[], help="Project id (repeatable).")

    def handle(self, *args, **options) -> None:  # type: ignore[no-untyped-def]
        try:
            user, token, created = user_create_or_update(
                username=options["username"],
                role=options["role"],
                password=options["password"],
                project_ids=options["project"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stderr.write(f"{'Created' if created else 'Updated'} {user.username} ({options['role']}).")
        self.stdout.write(token)
