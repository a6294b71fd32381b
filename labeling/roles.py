"""The three roles are Django groups; project membership says which projects a user works on.

Admins and ML staff see the projects they are members of (a project's creator becomes a member);
superusers see everything.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

RATER = "rater"
ADMIN = "admin"
ML = "ml"
ROLES = (RATER, ADMIN, ML)

# Model permissions each role's group carries (app_label.codename).
ROLE_PERMISSIONS: dict[str, list[str]] = {
    RATER: [
        "labeling.view_project",
        "labeling.view_item",
        "labeling.view_response",
    ],
    ADMIN: [
        "labeling.add_project",
        "labeling.change_project",
        "labeling.view_project",
        "labeling.add_batch",
        "labeling.change_batch",
        "labeling.view_batch",
        "labeling.view_item",
        "labeling.view_response",
        "labeling.add_projectmembership",
        "labeling.change_projectmembership",
        "labeling.delete_projectmembership",
        "labeling.view_projectmembership",
        "labeling.view_assignment",
        "labeling.view_judgement",
        "labeling.view_adjudication",
        "assist.add_prompttemplate",
        "assist.change_prompttemplate",
        "assist.view_prompttemplate",
        "assist.view_assistartifact",
    ],
    ML: [
        "labeling.view_project",
        "labeling.view_batch",
        "labeling.view_item",
        "labeling.view_response",
    ],
}


def user_roles(user: AbstractBaseUser | AnonymousUser) -> frozenset[str]:
    """The user's role names, cached on the user object for the request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_oversight_roles", None)
    if cached is None:
        if user.is_superuser:
            cached = frozenset(ROLES)
        else:
            cached = frozenset(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        user._oversight_roles = cached
    return cached


def has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    return bool(user_roles(user) & set(roles))
