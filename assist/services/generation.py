"""Planning and running assistant generation.

Idempotent by construction: artifacts are unique per (target, kind, model, prompt version); results are
written with a conditional UPDATE that only touches artifacts still pending or running, all of a chunk's
results in one transaction. A task delivered twice, or re-run after a worker was killed mid-chunk,
therefore leaves exactly one finished artifact per target and never a partial chunk.
"""

import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Length
from django.utils import timezone

from assist.backends.base import BackendError, GenerationSettings, Messages, TransientBackendError
from assist.backends.registry import get_backend
from assist.models import AssistArtifact, AssistKind, PromptTemplate
from assist.prompts import DEFAULT_TEMPLATES
from common.exceptions import ApplicationError
from labeling.models import Batch, Item

logger = logging.getLogger(__name__)

ELIGIBLE = [AssistArtifact.Status.PENDING, AssistArtifact.Status.RUNNING]


def active_templates() -> dict[str, PromptTemplate]:
    """The newest active template of each kind. A kind with no template at all gets the default
    (version 1, from assist/prompts.py); a kind whose templates are all inactive gets none."""
    for kind, (system, template) in DEFAULT_TEMPLATES.items():
        if not PromptTemplate.objects.filter(kind=kind).exists():
            PromptTemplate.objects.get_or_create(
                kind=kind, version=1, defaults={"system": system, "template": template}
            )
    out: dict[str, PromptTemplate] = {}
    for template in PromptTemplate.objects.filter(is_active=True).order_by("kind", "-version"):
        out.setdefault(template.kind, template)
    return out


@transaction.atomic
def prompt_template_revise(*, kind: str, system: str, template: str, created_by=None) -> PromptTemplate:  # type: ignore[no-untyped-def]
    """A new version of a prompt template (older versions stay, for provenance)."""
    latest = PromptTemplate.objects.select_for_update().filter(kind=kind).order_by("-version").first()
    for placeholder in ("{prompt}", "{response}") if kind == AssistKind.CRITIQUE else ("{context}",):
        if placeholder not in template:
            raise ApplicationError(f"A {kind} template needs the placeholder {placeholder}.", code="invalid_template")
    return PromptTemplate.objects.create(
        kind=kind,
        version=(latest.version + 1) if latest else 1,
        system=system,
        template=template,
        created_by=created_by,
    )


def assist_plan_batch(*, batch: Batch) -> list[int]:
    """Create the batch's missing artifacts and reset failed ones; return the ids still to generate,
    in item order (the order raters are served). Done artifacts are never touched."""
    templates = active_templates()
    backend = get_backend(batch.project.assist_backend or None)
    min_chars = settings.OVERSIGHT_ASSIST_SUMMARY_MIN_CHARS
    items = Item.objects.filter(batch=batch).order_by("id").prefetch_related("responses")
    for chunk in _chunks(items.iterator(chunk_size=500), 500):
        rows = []
        for item in chunk:
            if AssistKind.CRITIQUE in templates:
                for response in item.responses.all():
                    rows.append(_artifact(item, response, AssistKind.CRITIQUE, "response", backend, templates))
            if AssistKind.SUMMARY in templates and len(item.context) >= min_chars:
                rows.append(_artifact(item, None, AssistKind.SUMMARY, "context", backend, templates))
        AssistArtifact.objects.bulk_create(rows, ignore_conflicts=True)
    pending = AssistArtifact.objects.filter(item__batch=batch, model_id=backend.model_id)
    pending.filter(status=AssistArtifact.Status.FAILED).update(status=AssistArtifact.Status.PENDING, error="")
    rows = list(
        pending.filter(status__in=ELIGIBLE)
        .order_by("item_id", "id")
        .annotate(size=Length("item__context") + Length("response__text"))
        .values_list("id", "size")
    )
    return [
        rows[i][0] for i in order_for_batching([size or 0 for _, size in rows], settings.OVERSIGHT_ASSIST_CHUNK_SIZE)
    ]


def order_for_batching(sizes: list[int], chunk: int, *, window_chunks: int = 4) -> list[int]:
    """Indices in serving order, but sorted by input size inside windows of `window_chunks` chunks, so
    each batched generate call pads its inputs to similar lengths (less wasted compute) while the
    first items raters will see still get their assistance first."""
    window = max(chunk * window_chunks, 1)
    order: list[int] = []
    for start in range(0, len(sizes), window):
        order.extend(sorted(range(start, min(start + window, len(sizes))), key=lambda i: sizes[i]))
    return order


def _artifact(item, response, kind, target, backend, templates) -> AssistArtifact:  # type: ignore[no-untyped-def]
    return AssistArtifact(
        item=item,
        response=response,
        kind=kind,
        target=target,
        backend=backend.name,
        model_id=backend.model_id,
        template=templates[kind],
    )


def _chunks(iterable: Iterable, size: int) -> Iterable[list]:
    chunk: list = []
    for value in iterable:
        chunk.append(value)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def assist_schedule_batch(*, batch: Batch) -> None:
    """Queue generation for a batch once the current transaction commits (nothing if it rolls back)."""
    from assist.tasks import plan_batch

    transaction.on_commit(lambda: plan_batch.delay(batch.pk))


def conversation_for(artifact: AssistArtifact) -> Messages:
    limit = settings.OVERSIGHT_ASSIST_INPUT_MAX_CHARS
    item = artifact.item
    if isinstance(item.prompt, list):
        prompt = "\n".join(f"{m['role']}: {m['content']}" for m in item.prompt)
    else:
        prompt = item.prompt
    values = {
        "prompt": _clip(prompt, limit),
        "response": _clip(_response_text(artifact), limit),
        "context": _clip(item.context if artifact.target == "context" else _response_text(artifact), limit),
    }
    return [
        {"role": "system", "content": artifact.template.system},
        {"role": "user", "content": artifact.template.template.format_map(values)},
    ]


def _response_text(artifact: AssistArtifact) -> str:
    response = artifact.response
    if response is None:
        return ""
    if response.steps:
        return "\n".join(f"Step {i + 1}: {step}" for i, step in enumerate(response.steps))
    return response.text


def _clip(text: str, limit: int) -> str:
    # Keep the end of long conversations: the latest turns matter most for judging a reply.
    return text if len(text) <= limit else "…" + text[-limit:]


def assist_run_chunk(*, artifact_ids: list[int]) -> int:
    """Generate the still-pending artifacts among `artifact_ids` in one batched call; return how many
    this call finished. TransientBackendError propagates (the task retries); a permanent BackendError
    marks them failed with the reason."""
    artifacts = list(
        AssistArtifact.objects.filter(pk__in=artifact_ids, status__in=ELIGIBLE)
        .select_related("item", "response", "template")
        .order_by("id")
    )
    if not artifacts:
        return 0
    AssistArtifact.objects.filter(pk__in=[a.pk for a in artifacts], status__in=ELIGIBLE).update(
        status=AssistArtifact.Status.RUNNING, attempts=F("attempts") + 1
    )
    by_backend: dict[str, list[AssistArtifact]] = {}
    for artifact in artifacts:
        by_backend.setdefault(artifact.backend, []).append(artifact)
    finished = 0
    for backend_name, group in by_backend.items():
        finished += _run_group(backend_name, group)
    return finished


def _run_group(backend_name: str, artifacts: list[AssistArtifact]) -> int:
    gen_settings = GenerationSettings(max_new_tokens=settings.OVERSIGHT_ASSIST_MAX_NEW_TOKENS, temperature=0.0)
    try:
        backend = get_backend(backend_name)
        generations = backend.generate_batch([conversation_for(a) for a in artifacts], gen_settings)
    except TransientBackendError:
        raise
    except BackendError as exc:
        assist_mark_failed(artifact_ids=[a.pk for a in artifacts], error=str(exc))
        return 0
    now = timezone.now()
    finished = 0
    with transaction.atomic():
        for artifact, generation in zip(artifacts, generations, strict=True):
            finished += AssistArtifact.objects.filter(pk=artifact.pk, status__in=ELIGIBLE).update(
                status=AssistArtifact.Status.DONE,
                text=generation.text,
                error="",
                settings={**gen_settings.as_dict(), **generation.extra},
                latency_ms=generation.latency_ms,
                prompt_tokens=generation.prompt_tokens,
                completion_tokens=generation.completion_tokens,
                finished_at=now,
            )
    logger.info("assistance generated", extra={"backend": backend_name, "count": finished})
    return finished


def assist_mark_failed(*, artifact_ids: list[int], error: str) -> int:
    return AssistArtifact.objects.filter(pk__in=artifact_ids, status__in=ELIGIBLE).update(
        status=AssistArtifact.Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )
