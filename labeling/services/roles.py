from django.contrib.auth.models import Group, Permission
from django.db import transaction

from labeling.roles import ROLE_PERMISSIONS


@transaction.atomic
def roles_sync() -> None:
    """Create the role groups and set their permissions (idempotent)."""
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            wanted.extend(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(wanted)
