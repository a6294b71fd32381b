import gzip
import io
import json

import pytest
from django.db import connection

from common.exceptions import ApplicationError, PayloadTooLarge
from labeling.models import Batch, Item, Response
from labeling.services.batch_import import batch_import
from labeling.services.import_format import hh_transcript
from tests.labeling.factories import comparison_line, import_lines, jsonl

pytestmark = pytest.mark.django_db


def test_good_file_stores_items_and_responses(project, admin_user):
    lines = [comparison_line(i, n_responses=2 + i % 3) for i in range(30)]

    batch = import_lines(project, lines, created_by=admin_user)

    assert batch.item_count == 30
    assert Item.objects.filter(batch=batch).count() == 30
    assert Response.objects.filter(item__batch=batch).count() == sum(2 + i % 3 for i in range(30))
    item = Item.objects.get(batch=batch, external_id="q-4")
    assert item.batch.project_id == project.pk
    assert [(r.response_id, r.position, r.text) for r in item.responses.all()] == [
        ("a", 0, "Answer 0 to 4"),
        ("b", 1, "Answer 1 to 4"),
        ("c", 2, "Answer 2 to 4"),
    ]


def test_import_uses_copy_on_postgresql(project):
    assert connection.vendor == "postgresql"

    batch = import_lines(
        project, [comparison_line(1, gold={"ranking": [["a", "b"]]}, prompt=[{"role": "user", "content": "q"}])]
    )

    item = batch.items.get()
    assert item.gold == {"ranking": [["a", "b"]]}
    assert item.prompt == [{"role": "user", "content": "q"}]
    assert item.reference is None


def test_one_bad_line_stores_nothing_and_every_error_has_line_and_field(project):
    lines = [
        comparison_line(1),
        "{not json",
        comparison_line(3, kind="essay"),
        comparison_line(4, n_responses=1),
        comparison_line(1),
    ]

    with pytest.raises(ApplicationError) as caught:
        import_lines(project, lines)

    assert caught.value.errors == [
        {
            "line": 2,
            "field": None,
            "message": "invalid JSON: Expecting property name enclosed in double quotes at column 2",
        },
        {"line": 3, "field": "kind", "message": "unknown kind 'essay'; expected one of comparison, critique, steps"},
        {"line": 4, "field": "responses", "message": "a comparison item needs 2 to 9 responses, got 1"},
        {"line": 5, "field": "id", "message": "duplicate id 'q-1' (first on line 1)"},
    ]
    assert "4 invalid lines" in caught.value.message
    assert Batch.objects.count() == 0
    assert Item.objects.count() == 0


def test_blank_lines_are_skipped_but_keep_line_numbers(project):
    data = jsonl([comparison_line(1)]) + b"\n   \n" + b"oops\n"

    with pytest.raises(ApplicationError) as caught:
        batch_import(project=project, stream=io.BytesIO(data), name="b")

    assert caught.value.errors[0]["line"] == 4


def test_empty_file_is_an_error(project):
    with pytest.raises(ApplicationError, match="no items"):
        batch_import(project=project, stream=io.BytesIO(b"\n\n"), name="b")


def test_error_list_is_capped(project, settings):
    settings.OVERSIGHT_IMPORT_MAX_ERRORS = 3

    with pytest.raises(ApplicationError) as caught:
        import_lines(project, ["bad"] * 10)

    assert len(caught.value.errors) == 3
    assert "10 invalid lines (showing the first 3)" in caught.value.message


def test_oversize_file_raises_payload_too_large(project, settings):
    settings.OVERSIGHT_IMPORT_MAX_FILE_BYTES = 500

    with pytest.raises(PayloadTooLarge):
        import_lines(project, [comparison_line(i) for i in range(20)])
    assert Item.objects.count() == 0


def test_oversize_line_is_reported_without_reading_it_whole(project, settings):
    settings.OVERSIGHT_IMPORT_MAX_LINE_BYTES = 300

    with pytest.raises(ApplicationError) as caught:
        import_lines(project, [comparison_line(1), comparison_line(2, prompt="x" * 5000), comparison_line(3)])

    assert caught.value.errors == [{"line": 2, "field": None, "message": "line is 301 bytes; the limit is 300"}]


def test_gzipped_file_is_read(project):
    data = gzip.compress(jsonl([comparison_line(i) for i in range(5)]))

    batch = batch_import(project=project, stream=io.BytesIO(data), name="gz")

    assert batch.item_count == 5


def test_corrupt_gzip_is_an_error(project):
    data = gzip.compress(jsonl([comparison_line(i) for i in range(50)]))[:60]

    with pytest.raises(ApplicationError, match="could not be read"):
        batch_import(project=project, stream=io.BytesIO(data), name="gz")


def test_kind_mismatch_with_project_is_rejected(project):
    line = {"id": "c", "kind": "critique", "prompt": "p", "responses": [{"text": "r"}]}

    with pytest.raises(ApplicationError) as caught:
        import_lines(project, [line])

    assert caught.value.errors[0]["field"] == "kind"


def test_real_hh_rlhf_file_imports_all_pairs_and_round_trips(project, hh_file):
    with hh_file.open("rb") as stream:
        batch = batch_import(project=project, stream=stream, name="hh")

    assert batch.item_count == 2312
    with gzip.open(hh_file, "rt") as lines:
        originals = [json.loads(line) for line in lines]
    items = Item.objects.filter(batch=batch).prefetch_related("responses").order_by("id")
    first_positions = set()
    for original, item in zip(originals, items, strict=True):
        responses = {r.response_id: r for r in item.responses.all()}
        chosen = responses[item.reference["ranking"][0][0]]
        rejected = responses[item.reference["ranking"][1][0]]
        first_positions.add(chosen.position)
        assert hh_transcript(item.prompt, item.metadata, chosen.text, chosen.metadata) == original["chosen"]
        assert hh_transcript(item.prompt, item.metadata, rejected.text, rejected.metadata) == original["rejected"]
    assert first_positions == {0, 1}  # the chosen response is not always shown first
