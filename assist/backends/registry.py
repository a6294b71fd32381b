"""Backends are configured by name in settings (OVERSIGHT_ASSIST_BACKENDS); projects pick one by name."""

from django.conf import settings

from assist.backends.base import AssistantBackend, BackendError
from assist.backends.local import LocalTransformersBackend
from assist.backends.openai_compatible import OpenAICompatibleBackend

_KINDS = {"transformers": LocalTransformersBackend, "openai": OpenAICompatibleBackend}


def backend_names() -> list[str]:
    return list(settings.OVERSIGHT_ASSIST_BACKENDS)


def get_backend(name: str | None = None) -> AssistantBackend:
    name = name or settings.OVERSIGHT_ASSIST_DEFAULT_BACKEND
    config = dict(settings.OVERSIGHT_ASSIST_BACKENDS.get(name) or {})
    if not config:
        raise BackendError(f"No assistant backend named {name!r} in OVERSIGHT_ASSIST_BACKENDS.")
    kind = config.pop("kind", None)
    if kind not in _KINDS:
        raise BackendError(f"Backend {name!r} has unknown kind {kind!r}; expected one of {', '.join(_KINDS)}.")
    return _KINDS[kind](name=name, **config)
