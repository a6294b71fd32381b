"""Login with a rate limit (django-ratelimit on the shared cache: atomic counters in Redis, so the limit
holds under parallel attempts)."""

from django.conf import settings
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import is_ratelimited


def _username_key(group: str, request: HttpRequest) -> str:
    return (request.POST.get("username") or "").strip().lower()[:150]


class RateLimitedLoginView(LoginView):
    """At most OVERSIGHT_LOGIN_RATE attempts per username and OVERSIGHT_LOGIN_IP_RATE per client
    address; further attempts get 429 without the password being checked."""

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
        limited = is_ratelimited(
            request,
            group="login-user",
            key=_username_key,
            rate=settings.OVERSIGHT_LOGIN_RATE,
            method="POST",
            increment=True,
        )
        limited = (
            is_ratelimited(
                request,
                group="login-ip",
                key="ip",
                rate=settings.OVERSIGHT_LOGIN_IP_RATE,
                method="POST",
                increment=True,
            )
            or limited
        )
        if limited:
            form = self.get_form()
            form.add_error(None, "Too many login attempts. Wait a minute and try again.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)
