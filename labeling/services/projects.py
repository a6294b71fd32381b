"""Writes for projects, membership and users."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from rest_framework.authtoken.models import Token

from common.exceptions import ApplicationError
from labeling.models import Batch, Project, ProjectMembership
from labeling.roles import ADMIN, ROLES

User = get_user_model()


@transaction.atomic
def project_create(*, created_by: AbstractBaseUser, **fields) -> Project:
    """Create a project; its creator becomes a member. Fields are Project fields, already validated."""
    project = Project(created_by=created_by, **fields)
    project.full_clean()
    project.save()
    ProjectMembership.objects.get_or_create(project=project, user=created_by)
    return project


@transaction.atomic
def membership_set(*, project: Project, user: AbstractBaseUser, member: bool) -> None:
    if member:
        ProjectMembership.objects.get_or_create(project=project, user=user)
    else:
        ProjectMembership.objects.filter(project=project, user=user).delete()


@transaction.atomic
def user_create_or_update(
    *, username: str, role: str, password: str | None = None, project_ids: list[int] | None = None
) -> tuple[AbstractBaseUser, str, bool]:
    """Create or update a user, add the role and project memberships; return (user, API token, created).

    Unknown project ids raise ApplicationError and change nothing.
    """
    if role not in ROLES:
        raise ApplicationError(f"Unknown role {role!r}; expected one of {', '.join(ROLES)}.", code="invalid_role")
    username = username.strip()
    if not username:
        raise ApplicationError("A username is required.", code="invalid_username")
    project_ids = sorted(set(project_ids or []))
    projects = list(Project.objects.filter(pk__in=project_ids))
    missing = sorted(set(project_ids) - {p.pk for p in projects})
    if missing:
        raise ApplicationError(f"No project with id {missing[0]}.", code="unknown_project")
    user, created = User.objects.get_or_create(username=username)
    if role == ADMIN:
        user.is_staff = True  # admins browse projects, batches and items in the Django admin
    if password:
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    user.save()
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.add(group)
    for project in projects:
        ProjectMembership.objects.get_or_create(project=project, user=user)
    token, _ = Token.objects.get_or_create(user=user)
    return user, token.key, created


@transaction.atomic
def batch_update(*, batch: Batch, status: str | None = None, priority: int | None = None) -> Batch:
    if status is not None:
        if status not in Batch.Status.values:
            raise ApplicationError(f"Unknown batch status {status!r}.", code="invalid_status")
        batch.status = status
    if priority is not None:
        batch.priority = priority
    batch.save(update_fields=["status", "priority"])
    return batch
