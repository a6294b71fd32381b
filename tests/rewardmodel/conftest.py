import orjson
import pytest

from tests.labeling.factories import comparison_line, import_lines
from tests.rewardmodel.factories import ExportProjectFactory


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def export_project(admin_user, ml_user):  # type: ignore[no-untyped-def]
    return ExportProjectFactory(members=[admin_user, ml_user], created_by=admin_user)


@pytest.fixture
def two_items(export_project):  # type: ignore[no-untyped-def]
    """q-1 and q-2, each with responses a and b."""
    return import_lines(export_project, [comparison_line(1), comparison_line(2)])


def read_jsonl(path) -> list[dict]:  # type: ignore[no-untyped-def]
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture
def train_rows():  # type: ignore[no-untyped-def]
    """The rows of a snapshot's train.jsonl."""

    def rows(snapshot) -> list[dict]:  # type: ignore[no-untyped-def]
        path = snapshot.directory / "train.jsonl"
        return read_jsonl(path) if path.exists() else []

    return rows


@pytest.fixture
def read_split():  # type: ignore[no-untyped-def]
    """The rows of one split of a JSONL snapshot ([] when the split has no file)."""

    def rows(snapshot, split: str) -> list[dict]:  # type: ignore[no-untyped-def]
        path = snapshot.directory / f"{split}.jsonl"
        return read_jsonl(path) if path.exists() else []

    return rows
