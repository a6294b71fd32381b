from unittest import mock

import pytest
from django.db import transaction

from assist import tasks
from assist.backends.base import BackendError, TransientBackendError
from assist.models import AssistArtifact, PromptTemplate
from assist.services.generation import assist_plan_batch, assist_run_chunk, prompt_template_revise
from common.exceptions import ApplicationError
from tests.labeling.factories import comparison_line, import_lines

pytestmark = pytest.mark.django_db


@pytest.fixture
def batch(project, tiny_backend):  # type: ignore[no-untyped-def]
    lines = [comparison_line(i) for i in range(5)] + [comparison_line(9, context="long document. " * 200)]
    return import_lines(project, lines)


def test_plan_creates_one_critique_per_response_and_summaries_of_long_context(batch, tiny_backend):
    ids = assist_plan_batch(batch=batch)

    artifacts = AssistArtifact.objects.filter(pk__in=ids)
    assert artifacts.filter(kind="critique", target="response").count() == 12
    assert artifacts.filter(kind="summary", target="context").count() == 1
    assert set(artifacts.values_list("status", flat=True)) == {"pending"}
    assert set(artifacts.values_list("model_id", flat=True)) == {tiny_backend}


def test_run_chunk_generates_with_provenance(batch):
    ids = assist_plan_batch(batch=batch)[:4]

    finished = assist_run_chunk(artifact_ids=ids)

    assert finished == 4
    artifact = AssistArtifact.objects.filter(pk__in=ids, kind="critique").first()
    assert artifact.status == "done"
    assert artifact.template == PromptTemplate.objects.get(kind="critique", version=1)
    assert artifact.settings == {
        "max_new_tokens": 8,
        "temperature": 0.0,
        "batch_size": 4,
        "shared_prefix_tokens": artifact.settings["shared_prefix_tokens"],
    }
    assert artifact.latency_ms is not None and artifact.prompt_tokens > 0
    assert artifact.attempts == 1


def test_the_same_chunk_delivered_twice_has_one_effect(batch):
    ids = assist_plan_batch(batch=batch)[:3]

    first = assist_run_chunk(artifact_ids=ids)
    second = assist_run_chunk(artifact_ids=ids)

    assert (first, second) == (3, 0)
    assert AssistArtifact.objects.filter(pk__in=ids, status="done").count() == 3


def test_concurrent_duplicate_only_writes_once(batch):
    """Two deliveries both generate; the conditional update lets only the first write."""
    ids = assist_plan_batch(batch=batch)[:2]
    original_text = None

    def racing_generate(self, conversations, gen_settings):  # type: ignore[no-untyped-def]
        nonlocal original_text
        results = real_generate(self, conversations, gen_settings)
        if original_text is None:  # the first delivery: a second one finishes while it generates
            original_text = "second delivery"
            with mock.patch.object(type(self), "generate_batch", real_generate):
                assist_run_chunk(artifact_ids=ids)
            for result in results:
                result.text = "late duplicate"
        return results

    from assist.backends.local import LocalTransformersBackend

    real_generate = LocalTransformersBackend.generate_batch
    with mock.patch.object(LocalTransformersBackend, "generate_batch", racing_generate):
        written = assist_run_chunk(artifact_ids=ids)

    assert written == 0
    assert not AssistArtifact.objects.filter(text="late duplicate").exists()
    assert AssistArtifact.objects.filter(pk__in=ids, status="done").count() == 2


def test_replan_regenerates_only_missing_or_failed(batch):
    ids = assist_plan_batch(batch=batch)
    assist_run_chunk(artifact_ids=ids[:5])
    AssistArtifact.objects.filter(pk=ids[5]).update(status="failed", error="boom")

    again = assist_plan_batch(batch=batch)

    assert set(again) == set(ids[5:])
    assert AssistArtifact.objects.filter(item__batch=batch).count() == len(ids)


def test_permanent_error_marks_failed_with_reason(batch):
    ids = assist_plan_batch(batch=batch)[:2]

    with mock.patch(
        "assist.backends.local.LocalTransformersBackend.generate_batch", side_effect=BackendError("bad output")
    ):
        assist_run_chunk(artifact_ids=ids)

    assert (
        list(AssistArtifact.objects.filter(pk__in=ids).values_list("status", "error")) == [("failed", "bad output")] * 2
    )


@pytest.fixture
def eager_retries():  # type: ignore[no-untyped-def]
    """Eager retries run inline; let them be recorded instead of raised through the test."""
    conf = tasks.generate_chunk.app.conf
    previous = conf.task_eager_propagates
    conf.task_eager_propagates = False
    yield
    conf.task_eager_propagates = previous


def test_transient_errors_retry_with_backoff_then_fail(batch, eager_retries):
    ids = assist_plan_batch(batch=batch)[:2]
    boom = TransientBackendError("timeout")

    with (
        mock.patch("assist.backends.local.LocalTransformersBackend.generate_batch", side_effect=boom) as generate,
        mock.patch.object(tasks.generate_chunk, "retry", wraps=tasks.generate_chunk.retry) as retry,
    ):
        tasks.generate_chunk.apply(args=[ids], throw=False)

    assert generate.call_count == tasks.MAX_RETRIES + 1
    assert [call.kwargs["countdown"] for call in retry.call_args_list] == [2, 4, 8, 16, 32]
    assert set(AssistArtifact.objects.filter(pk__in=ids).values_list("status", flat=True)) == {"failed"}
    assert "gave up after 5 retries" in AssistArtifact.objects.get(pk=ids[0]).error


def test_transient_error_then_success_completes(batch, eager_retries):
    ids = assist_plan_batch(batch=batch)[:2]
    from assist.backends.local import LocalTransformersBackend

    real = LocalTransformersBackend.generate_batch
    calls = []

    def flaky(self, conversations, gen_settings):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:
            raise TransientBackendError("connection reset")
        return real(self, conversations, gen_settings)

    with mock.patch.object(LocalTransformersBackend, "generate_batch", flaky):
        tasks.generate_chunk.apply(args=[ids], throw=False)

    assert len(calls) == 2
    assert AssistArtifact.objects.filter(pk__in=ids, status="done").count() == 2


def test_plan_task_queues_chunks_and_each_chunk_is_one_batched_call(batch, settings):
    settings.OVERSIGHT_ASSIST_CHUNK_SIZE = 5
    from assist.backends.local import LocalTransformersBackend

    real = LocalTransformersBackend.generate_batch
    sizes = []

    def counting(self, conversations, gen_settings):  # type: ignore[no-untyped-def]
        sizes.append(len(conversations))
        return real(self, conversations, gen_settings)

    with mock.patch.object(LocalTransformersBackend, "generate_batch", counting):
        queued = tasks.plan_batch.delay(batch.pk).get()

    assert queued == 13
    assert sizes == [5, 5, 3]
    assert AssistArtifact.objects.filter(item__batch=batch, status="done").count() == 13


def test_committed_import_queues_generation_and_rolled_back_import_queues_nothing(
    project, settings, django_capture_on_commit_callbacks
):
    settings.OVERSIGHT_ASSIST_ON_IMPORT = True
    with mock.patch.object(tasks.plan_batch, "delay") as delay:
        with pytest.raises(RuntimeError), transaction.atomic():
            import_lines(project, [comparison_line(1)], name="rolled back")
            raise RuntimeError("abort")
        assert delay.call_count == 0

        with django_capture_on_commit_callbacks(execute=True):
            batch = import_lines(project, [comparison_line(1)], name="kept")

    delay.assert_called_once_with(batch.pk)


def test_projects_without_assistance_queue_nothing(project, settings, django_capture_on_commit_callbacks):
    settings.OVERSIGHT_ASSIST_ON_IMPORT = True
    project.assistance_mode = "off"
    project.save()

    with mock.patch.object(tasks.plan_batch, "delay") as delay, django_capture_on_commit_callbacks(execute=True):
        import_lines(project, [comparison_line(1)])

    delay.assert_not_called()


def test_plan_task_for_a_deleted_batch_returns_quietly(db):
    assert tasks.plan_batch.delay(987654).get() == 0


def test_template_revision_makes_a_new_version(admin_user):
    new = prompt_template_revise(
        kind="critique", system="s", template="Q: {prompt}\nA: {response}", created_by=admin_user
    )

    assert new.version == 2
    assert PromptTemplate.objects.filter(kind="critique").count() == 2
    with pytest.raises(ApplicationError, match="placeholder"):
        prompt_template_revise(kind="critique", system="s", template="no placeholders")


def test_order_for_batching_sorts_by_size_inside_windows():
    from assist.services.generation import order_for_batching

    sizes = [50, 10, 40, 30, 5, 1]

    assert order_for_batching(sizes, 2, window_chunks=2) == [1, 3, 2, 0, 5, 4]
