from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LabelingConfig(AppConfig):
    name = "labeling"
    verbose_name = "Labeling"

    def ready(self) -> None:
        from labeling.services.roles import roles_sync

        # Setup, not business logic: the role groups exist with their permissions after every migrate.
        # No sender filter: other apps' permissions (assist's templates) exist only after their own
        # post_migrate, so the sync runs after each app's (it is idempotent and small).
        post_migrate.connect(lambda sender, **kwargs: roles_sync(), weak=False, dispatch_uid="oversight-roles-sync")
