from labeling.roles import ADMIN, ML, RATER, user_roles


def roles(request):  # type: ignore[no-untyped-def]
    held = user_roles(request.user) if hasattr(request, "user") else frozenset()
    return {"is_rater": RATER in held, "is_admin": ADMIN in held, "is_ml": ML in held}
