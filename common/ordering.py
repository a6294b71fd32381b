"""`?ordering=` for list endpoints: only the listed fields, so a parameter can never follow a relation
(`created_by__password`) or sort by a private column."""

from django.db.models import QuerySet

from common.exceptions import ApplicationError


def apply_ordering(queryset: QuerySet, raw: str | None, *, allowed: set[str], default: list[str]) -> QuerySet:
    if not raw:
        return queryset.order_by(*default)
    fields = [part.strip() for part in raw.split(",") if part.strip()]
    for name in fields:
        if name.lstrip("-") not in allowed:
            raise ApplicationError(
                f"Cannot order by {name!r}; allowed: {', '.join(sorted(allowed))}.",
                code="invalid_ordering",
                errors=[{"field": "ordering", "message": f"not an allowed field: {name}"}],
            )
    return queryset.order_by(*fields, "id")
