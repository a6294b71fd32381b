"""A real Celery worker (Redis broker, the test database) killed with SIGKILL in the middle of a chunk."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import pytest
from django.db import connection

from assist import tasks
from assist.models import AssistArtifact
from assist.services.generation import assist_plan_batch
from tests.labeling.factories import ProjectFactory, UserFactory, comparison_line, import_lines

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


class SlowModel(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that holds every request until the test releases it."""

    received = 0
    release = threading.Event()

    def do_POST(self):  # noqa: N802
        type(self).received += 1
        self.rfile.read(int(self.headers["Content-Length"]))
        self.release.wait(timeout=60)
        body = b'{"choices": [{"message": {"content": "a critique"}}], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # type: ignore[no-untyped-def]
        pass


def start_worker(queue: str, url: str, extra_env: dict | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "OVERSIGHT_ASSIST_OPENAI_URL": url,
        "OVERSIGHT_ASSIST_OPENAI_MODEL": "slow-model",
        "OVERSIGHT_ASSIST_DEFAULT_BACKEND": "openai",
        **(extra_env or {}),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool=solo",
        "-Q",
        queue,
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def wait_for(condition, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def real_broker():  # type: ignore[no-untyped-def]
    """Send tasks through Redis to the worker instead of running them in this process."""
    conf = tasks.generate_chunk.app.conf
    conf.task_always_eager = False
    yield
    conf.task_always_eager = True


def test_worker_killed_mid_chunk_leaves_no_partial_artifacts_and_rerun_completes(settings, real_broker):
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowModel)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    settings.OVERSIGHT_ASSIST_BACKENDS = {"openai": {"kind": "openai", "base_url": url, "model": "slow-model"}}
    settings.OVERSIGHT_ASSIST_DEFAULT_BACKEND = "openai"
    admin = UserFactory(username="admin-faults", role="admin")
    project = ProjectFactory(members=[admin])
    batch = import_lines(project, [comparison_line(i) for i in range(3)])
    ids = assist_plan_batch(batch=batch)
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    SlowModel.received, _ = 0, SlowModel.release.clear()

    worker = start_worker(queue, url)
    try:
        tasks.generate_chunk.apply_async((ids,), queue=queue)
        assert wait_for(lambda: SlowModel.received >= 1), "the worker never started the chunk"
        assert wait_for(lambda: AssistArtifact.objects.filter(pk__in=ids, status="running").count() == len(ids))
        os.killpg(worker.pid, signal.SIGKILL)  # mid-chunk: generations requested, nothing written yet
        worker.wait(timeout=10)

        statuses = set(AssistArtifact.objects.filter(pk__in=ids).values_list("status", flat=True))
        assert statuses == {"running"}
        assert not AssistArtifact.objects.filter(pk__in=ids).exclude(text="").exists()

        SlowModel.release.set()
        worker = start_worker(queue, url)
        rerun = assist_plan_batch(batch=batch)  # what the admin's "Generate" re-run queues
        assert sorted(rerun) == sorted(ids)
        tasks.generate_chunk.apply_async((rerun,), queue=queue)
        assert wait_for(lambda: AssistArtifact.objects.filter(pk__in=ids, status="done").count() == len(ids))
        assert AssistArtifact.objects.filter(item__batch=batch).count() == len(ids)
        assert set(AssistArtifact.objects.filter(pk__in=ids).values_list("text", flat=True)) == {"a critique"}
    finally:
        SlowModel.release.set()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        server.shutdown()


def judged_items(project, items: int, raters: list) -> None:  # type: ignore[no-untyped-def]
    """Many judgements fast: assignments and judgements written on the server with INSERT ... SELECT."""
    import_lines(project, [comparison_line(i) for i in range(items)])
    rater_ids = ",".join(str(r.pk) for r in raters)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO labeling_assignment (project_id, item_id, rater_id, status, created_at, expires_at,
                    completed_at, display_order, assistance_shown, assists_shown, skip_reason)
                SELECT b.project_id, i.id, r.id, 'submitted', now(), now() + interval '1 hour', now(),
                    '["a", "b"]', false, '[]', ''
                FROM labeling_item i JOIN labeling_batch b ON b.id = i.batch_id
                CROSS JOIN (SELECT unnest(ARRAY[{rater_ids}]) AS id) r WHERE b.project_id = %s""",
            [project.pk],
        )
        cursor.execute(
            """INSERT INTO labeling_judgement (assignment_id, project_id, item_id, rater_id, ranking, strength, all_bad,
                    flags, flaws, no_flaws, critique_ratings, finish_reason, rationale, assist_ratings, display_order,
                    assistance_shown, created_at)
                SELECT a.id, a.project_id, a.item_id, a.rater_id, '[["a"], ["b"]]', 1, false, '{}', '[]', false, '{}',
                    '', 'because', '{}', a.display_order, false, now()
                FROM labeling_assignment a WHERE a.project_id = %s""",
            [project.pk],
        )
        cursor.execute("UPDATE labeling_item SET judgement_count = %s", [len(raters)])


def test_worker_killed_mid_export_leaves_no_snapshot_and_rerun_completes(settings, real_broker, tmp_path):
    from rewardmodel.models import DatasetSnapshot
    from rewardmodel.services.snapshots import ExportDefinition, snapshot_build, snapshot_create

    settings.MEDIA_ROOT = str(tmp_path)
    ml = UserFactory(username="ml-faults", role="ml")
    project = ProjectFactory(members=[ml])
    judged_items(project, 6000, [UserFactory(username=f"r-faults-{i}", role="rater") for i in range(3)])
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    env_media = {"OVERSIGHT_MEDIA_ROOT": str(tmp_path)}

    worker = start_worker(queue, "http://127.0.0.1:9/v1", extra_env=env_media)
    try:
        from rewardmodel import tasks as rm_tasks

        with mock.patch.object(rm_tasks.build_snapshot, "delay"):  # we route the build to our worker below
            snapshot = snapshot_create(
                created_by=ml,
                definition=ExportDefinition(format="parquet", projects=(project.pk,)),
                name="killed",
                run_inline=False,
            )
        rm_tasks.build_snapshot.apply_async((snapshot.pk,), queue=queue)
        assert wait_for(lambda: DatasetSnapshot.objects.get(pk=snapshot.pk).status == "running", timeout=60)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

        killed = DatasetSnapshot.objects.get(pk=snapshot.pk)
        assert killed.status == "running" and killed.content_hash == "" and killed.files == []
        assert not killed.directory.exists()  # nothing half-written where readers look

        # The re-run: once PostgreSQL has noticed the dead worker's connection, its builder lock is gone.
        assert wait_for(
            lambda: snapshot_build(snapshot=DatasetSnapshot.objects.get(pk=snapshot.pk)).status == "done", timeout=60
        )
        rebuilt = DatasetSnapshot.objects.get(pk=snapshot.pk)
        assert rebuilt.content_hash
        assert rebuilt.total_rows == 18000
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
