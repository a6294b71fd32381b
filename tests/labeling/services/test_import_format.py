import json

import pytest

from labeling.services.import_format import ImportLimits, LineError, hh_transcript, parse_line
from tests.labeling.factories import comparison_line

LIMITS = ImportLimits(max_line_bytes=10_000, max_responses=9)


def parse(obj, *, kind="comparison", limits=LIMITS):  # type: ignore[no-untyped-def]
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return parse_line(raw, line_no=7, project_kind=kind, limits=limits)


def test_comparison_line_parses_with_all_fields():
    line = comparison_line(
        1, n_responses=3, context="doc", metadata={"src": "x"}, gold={"ranking": [["b"], ["a", "c"]]}
    )

    item = parse(line)

    assert item.external_id == "q-1"
    assert [r.response_id for r in item.responses] == ["a", "b", "c"]
    assert [r.position for r in item.responses] == [0, 1, 2]
    assert item.responses[1].model_name == "m1"
    assert item.context == "doc"
    assert item.gold == {"ranking": [["b"], ["a", "c"]]}


def test_chat_prompt_is_kept_as_messages():
    prompt = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "?"},
    ]

    item = parse(comparison_line(1, prompt=prompt))

    assert item.prompt == prompt


@pytest.mark.parametrize(
    ("raw", "field", "message"),
    [
        (b'{"id": 1, "kind": ', None, "invalid JSON"),
        (b"[1, 2]", None, "expected a JSON object"),
        (b"\xff\xfe", None, "not valid UTF-8"),
        (json.dumps(comparison_line(1, kind="essay")).encode(), "kind", "unknown kind"),
        (json.dumps({k: v for k, v in comparison_line(1).items() if k != "kind"}).encode(), "kind", "missing"),
        (json.dumps({k: v for k, v in comparison_line(1).items() if k != "prompt"}).encode(), "prompt", "missing"),
        (json.dumps(comparison_line(1, prompt="  ")).encode(), "prompt", "must not be empty"),
        (
            json.dumps(comparison_line(1, prompt=[{"role": "robot", "content": "x"}])).encode(),
            "prompt[0].role",
            "must be one of",
        ),
        (json.dumps(comparison_line(1, n_responses=1)).encode(), "responses", "needs 2 to 9 responses, got 1"),
        (json.dumps(comparison_line(1, n_responses=10)).encode(), "responses", "needs 2 to 9 responses, got 10"),
        (
            json.dumps(comparison_line(1, responses=[{"id": "a", "text": "x"}, {"id": "a", "text": "y"}])).encode(),
            "responses[1].id",
            "duplicate response id",
        ),
        (
            json.dumps(comparison_line(1, responses=[{"id": "a", "text": "x"}, {"id": "b"}])).encode(),
            "responses[1].text",
            "missing",
        ),
        (json.dumps(comparison_line(1, colour="red")).encode(), "colour", "unknown field"),
        (
            json.dumps(comparison_line(1, gold={"ranking": [["a"], ["zz"]]})).encode(),
            "gold.ranking",
            "unknown response id",
        ),
        (json.dumps(comparison_line(1, gold={"ranking": [["a"]]})).encode(), "gold.ranking", "is not ranked"),
        (json.dumps(comparison_line(1, metadata=[1])).encode(), "metadata", "must be a JSON object"),
        (json.dumps(comparison_line(1, id="x" * 201)).encode(), "id", "the limit is 200"),
        (json.dumps(comparison_line(1, prompt="a\u0000b")).encode(), None, "NUL"),
    ],
)
def test_bad_lines_name_the_field(raw, field, message):
    with pytest.raises(LineError) as caught:
        parse(raw)

    assert caught.value.field == field
    assert message in caught.value.message


def test_oversized_line_is_rejected():
    limits = ImportLimits(max_line_bytes=100, max_responses=9)

    with pytest.raises(LineError, match="the limit is 100"):
        parse(comparison_line(1, prompt="x" * 200), limits=limits)


def test_kind_must_match_the_project():
    with pytest.raises(LineError) as caught:
        parse(comparison_line(1), kind="critique")

    assert caught.value.field == "kind"


def test_critique_needs_exactly_one_response():
    line = {"id": "c1", "kind": "critique", "prompt": "p", "responses": [{"text": "a"}, {"text": "b"}]}

    with pytest.raises(LineError, match="exactly 1"):
        parse(line, kind="critique")


def test_steps_item_with_gold_labels():
    line = {
        "id": "s1",
        "kind": "steps",
        "prompt": "Solve 2+2",
        "responses": [{"id": "sol", "steps": ["2+2", "=4"]}],
        "gold": {"labels": [1, 1], "finish_reason": "solution"},
    }

    item = parse(line, kind="steps")

    assert item.responses[0].steps == ["2+2", "=4"]
    assert item.gold["labels"] == [1, 1]


def test_steps_gold_labels_are_checked():
    line = {"kind": "steps", "prompt": "p", "responses": [{"steps": ["x"]}], "gold": {"labels": [1, 2]}}

    with pytest.raises(LineError) as caught:
        parse(line, kind="steps")

    assert caught.value.field == "gold.labels"


def test_hh_rlhf_line_becomes_chat_prompt_two_responses_and_reference():
    chosen = "\n\nHuman: How do I pick a lock?\n\nAssistant: I can't help with that."
    rejected = "\n\nHuman: How do I pick a lock?\n\nAssistant: Use a tension wrench."

    item = parse({"chosen": chosen, "rejected": rejected})

    assert item.prompt == [{"role": "user", "content": "How do I pick a lock?"}]
    texts = {r.response_id: r.text for r in item.responses}
    chosen_id = item.reference["ranking"][0][0]
    rejected_id = item.reference["ranking"][1][0]
    assert texts[chosen_id] == "I can't help with that."
    assert texts[rejected_id] == "Use a tension wrench."
    assert item.metadata["source"] == "hh-rlhf"


def test_hh_rlhf_transcripts_rebuild_exactly_even_when_turns_differ():
    chosen = "\n\nHuman: q\n\nAssistant: a1  Human: more?\n\nAssistant: yes"
    rejected = "\n\nHuman: q\n\nAssistant: b"

    item = parse({"chosen": chosen, "rejected": rejected})

    by_id = {r.response_id: r for r in item.responses}
    rebuilt_chosen = hh_transcript(
        item.prompt,
        item.metadata,
        by_id[item.reference["ranking"][0][0]].text,
        by_id[item.reference["ranking"][0][0]].metadata,
    )
    rebuilt_rejected = hh_transcript(
        item.prompt,
        item.metadata,
        by_id[item.reference["ranking"][1][0]].text,
        by_id[item.reference["ranking"][1][0]].metadata,
    )
    assert (rebuilt_chosen, rebuilt_rejected) == (chosen, rejected)


def test_hh_rlhf_without_shared_assistant_turn_is_an_error():
    with pytest.raises(LineError) as caught:
        parse({"chosen": "\n\nHuman: a", "rejected": "\n\nHuman: b"})

    assert caught.value.field == "chosen"
