import pytest

from common.exceptions import ApplicationError
from labeling.models import Item, Judgement
from labeling.services.assignment import assignment_claim_next, assignment_skip
from labeling.services.judgement import ComparisonAnswer, judgement_submit
from tests.labeling.factories import ProjectFactory, comparison_line, import_lines, rater_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def claimed(project, rater):  # type: ignore[no-untyped-def]
    import_lines(project, [comparison_line(1, n_responses=3)])
    return assignment_claim_next(project=project, rater=rater)


def test_submit_stores_everything_and_updates_counters(claimed):
    answer = ComparisonAnswer(
        ranking=[["b"], ["a", "c"]],
        strength=2,
        flags={"a": ["hallucination", "harmful", "harmful"], "c": []},
        rationale=" b cites sources ",
        time_spent_ms=4200,
    )

    judgement, created = judgement_submit(assignment=claimed, answer=answer)

    assert created
    assert judgement.ranking == [["b"], ["a", "c"]]
    assert judgement.flags == {"a": ["hallucination", "harmful"]}
    assert judgement.rationale == "b cites sources"
    assert judgement.display_order == claimed.display_order
    assert judgement.time_spent_ms == 4200
    item = Item.objects.get(pk=claimed.item_id)
    assert (item.judgement_count, item.lease_count) == (1, 0)
    claimed.refresh_from_db()
    assert claimed.status == "submitted"


def test_same_submit_twice_returns_the_same_judgement(claimed):
    answer = ComparisonAnswer(ranking=[["a"], ["b"], ["c"]])

    first, created_first = judgement_submit(assignment=claimed, answer=answer)
    second, created_second = judgement_submit(assignment=claimed, answer=answer)

    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk
    assert Item.objects.get(pk=claimed.item_id).judgement_count == 1


def test_different_answer_after_submit_is_a_conflict(claimed):
    judgement_submit(assignment=claimed, answer=ComparisonAnswer(ranking=[["a"], ["b"], ["c"]]))

    with pytest.raises(ApplicationError) as caught:
        judgement_submit(assignment=claimed, answer=ComparisonAnswer(ranking=[["c"], ["b"], ["a"]]))

    assert caught.value.status_code == 409


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        (ComparisonAnswer(ranking=[["a"], ["b"]]), "ranking"),
        (ComparisonAnswer(ranking=[["a"], ["b"], ["zz"]]), "ranking"),
        (ComparisonAnswer(ranking=[["a"], ["a", "b", "c"]]), "ranking"),
        (ComparisonAnswer(ranking=[["a"], ["b"], ["c"]], strength=7), "strength"),
        (ComparisonAnswer(ranking=[["a", "b", "c"]], strength=2), "strength"),
        (ComparisonAnswer(ranking=[["a"], ["b"], ["c"]], flags={"a": ["rude"]}), "flags.a"),
        (ComparisonAnswer(ranking=[["a"], ["b"], ["c"]], flags={"x": ["harmful"]}), "flags.x"),
        (ComparisonAnswer(ranking=[["a"], ["b"], ["c"]], assist_ratings={"5": 3}), "assist_ratings.5"),
    ],
)
def test_invalid_answers_name_the_field_and_store_nothing(claimed, answer, field):
    with pytest.raises(ApplicationError) as caught:
        judgement_submit(assignment=claimed, answer=answer)

    assert caught.value.errors[0]["field"] == field
    assert Judgement.objects.count() == 0


def test_pairwise_needs_strength_unless_tied(project, rater):
    import_lines(project, [comparison_line(1)])
    assignment = assignment_claim_next(project=project, rater=rater)

    with pytest.raises(ApplicationError) as caught:
        judgement_submit(assignment=assignment, answer=ComparisonAnswer(ranking=[["a"], ["b"]]))
    tie, _ = judgement_submit(assignment=assignment, answer=ComparisonAnswer(ranking=[["a", "b"]]))

    assert caught.value.errors[0]["field"] == "strength"
    assert tie.strength is None


def test_rationale_required_by_project(admin_user):
    project = ProjectFactory(rationale_required=True, members=[admin_user])
    import_lines(project, [comparison_line(1)])
    assignment = assignment_claim_next(project=project, rater=rater_in(project, "r"))

    with pytest.raises(ApplicationError) as caught:
        judgement_submit(
            assignment=assignment, answer=ComparisonAnswer(ranking=[["a"], ["b"]], strength=1, rationale=" ")
        )

    assert caught.value.errors[0]["field"] == "rationale"


def test_skipped_assignment_cannot_be_submitted(claimed):
    assignment_skip(assignment=claimed, reason="broken")

    with pytest.raises(ApplicationError) as caught:
        judgement_submit(assignment=claimed, answer=ComparisonAnswer(ranking=[["a"], ["b"], ["c"]]))

    assert caught.value.status_code == 409
