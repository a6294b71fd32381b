from rest_framework.permissions import BasePermission

from labeling.roles import ADMIN, ML, RATER, has_role


class _RolePermission(BasePermission):
    roles: tuple[str, ...] = ()
    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        return bool(request.user and request.user.is_authenticated and has_role(request.user, *self.roles))


class IsAdmin(_RolePermission):
    roles = (ADMIN,)


class IsAdminOrML(_RolePermission):
    roles = (ADMIN, ML)


class IsML(_RolePermission):
    roles = (ML,)


class IsRater(_RolePermission):
    roles = (RATER,)
