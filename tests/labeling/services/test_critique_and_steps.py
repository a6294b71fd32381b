import pytest

from assist.services.generation import assist_plan_batch, assist_run_chunk
from common.exceptions import ApplicationError
from labeling.models import Judgement
from labeling.services.assignment import assignment_claim_next, assignment_record_assists
from labeling.services.judgement import CritiqueAnswer, StepsAnswer, judgement_submit
from tests.labeling.factories import ProjectFactory, import_lines, rater_in

pytestmark = pytest.mark.django_db

RESPONSE = "Paris is the capital of Germany. It has 2 million people."


def critique_line(index: int, **extra) -> dict:  # type: ignore[no-untyped-def]
    return {
        "id": f"c-{index}",
        "kind": "critique",
        "prompt": "Tell me about Paris.",
        "responses": [{"id": "r", "text": RESPONSE}],
        **extra,
    }


def steps_line(index: int, n_steps: int = 4, **extra) -> dict:  # type: ignore[no-untyped-def]
    steps = [f"step {i}" for i in range(n_steps)]
    return {
        "id": f"s-{index}",
        "kind": "steps",
        "prompt": "Solve x+1=3",
        "responses": [{"id": "sol", "steps": steps}],
        **extra,
    }


@pytest.fixture
def critique_assignment(admin_user):  # type: ignore[no-untyped-def]
    project = ProjectFactory(task_kind="critique", members=[admin_user])
    import_lines(project, [critique_line(1)])
    return assignment_claim_next(project=project, rater=rater_in(project, "critic"))


def steps_assignment(admin_user, *, stop: bool = True):  # type: ignore[no-untyped-def]
    project = ProjectFactory(task_kind="steps", stop_at_first_error=stop, members=[admin_user])
    import_lines(project, [steps_line(1, gold={"labels": [1, 1, -1]})])
    return assignment_claim_next(project=project, rater=rater_in(project, f"stepper-{stop}"))


def test_critique_with_quoted_span_is_stored_with_checked_offsets(critique_assignment):
    start = RESPONSE.index("Germany")
    answer = CritiqueAnswer(
        quality=2,
        flaws=[
            {
                "description": "wrong country",
                "severity": "critical",
                "start": start,
                "end": start + 7,
                "quote": "Germany",
            },
            {"description": "population is about 2.1 million", "severity": "minor"},
        ],
    )

    judgement, created = judgement_submit(assignment=critique_assignment, answer=answer)

    assert created
    assert judgement.flaws[0] == {
        "description": "wrong country",
        "severity": "critical",
        "start": start,
        "end": start + 7,
        "quote": "Germany",
    }
    assert judgement.flaws[1] == {"description": "population is about 2.1 million", "severity": "minor"}
    assert (judgement.quality, judgement.no_flaws, judgement.ranking) == (2, False, None)


@pytest.mark.parametrize(
    ("answer", "field"),
    [
        (
            CritiqueAnswer(quality=3, flaws=[{"description": "x", "severity": "major", "start": 10, "end": 5}]),
            "flaws[0].start",
        ),
        (
            CritiqueAnswer(quality=3, flaws=[{"description": "x", "severity": "major", "start": 0, "end": 999}]),
            "flaws[0].start",
        ),
        (
            CritiqueAnswer(
                quality=3, flaws=[{"description": "x", "severity": "major", "start": 0, "end": 5, "quote": "Lyon!"}]
            ),
            "flaws[0].quote",
        ),
        (CritiqueAnswer(quality=3, flaws=[{"description": "x", "severity": "fatal"}]), "flaws[0].severity"),
        (CritiqueAnswer(quality=3, flaws=[{"description": " ", "severity": "minor"}]), "flaws[0].description"),
        (CritiqueAnswer(quality=9, no_flaws=True), "quality"),
        (CritiqueAnswer(quality=3), "flaws"),
        (CritiqueAnswer(quality=3, no_flaws=True, flaws=[{"description": "x", "severity": "minor"}]), "no_flaws"),
    ],
)
def test_bad_critique_answers_name_the_field(critique_assignment, answer, field):
    with pytest.raises(ApplicationError) as caught:
        judgement_submit(assignment=critique_assignment, answer=answer)

    assert caught.value.errors[0]["field"] == field
    assert Judgement.objects.count() == 0


def test_no_flaws_found_is_a_valid_answer(critique_assignment):
    judgement, _ = judgement_submit(assignment=critique_assignment, answer=CritiqueAnswer(quality=6, no_flaws=True))

    assert judgement.no_flaws and judgement.flaws == []


def test_every_ai_critique_shown_must_be_rated(admin_user, tiny_backend):
    project = ProjectFactory(task_kind="critique", members=[admin_user])
    batch = import_lines(project, [critique_line(1)])
    [artifact_id] = assist_plan_batch(batch=batch)
    assist_run_chunk(artifact_ids=[artifact_id])
    assignment = assignment_claim_next(project=project, rater=rater_in(project, "critic"))
    assignment_record_assists(assignment=assignment, artifact_ids=[artifact_id])

    with pytest.raises(ApplicationError) as missing:
        judgement_submit(assignment=assignment, answer=CritiqueAnswer(quality=4, no_flaws=True))
    judgement, _ = judgement_submit(
        assignment=assignment,
        answer=CritiqueAnswer(
            quality=4, no_flaws=True, critique_ratings={str(artifact_id): {"valid": False, "helpfulness": 2}}
        ),
    )

    assert missing.value.errors[0]["field"] == f"critique_ratings.{artifact_id}"
    assert judgement.critique_ratings == {str(artifact_id): {"valid": False, "helpfulness": 2}}


def test_steps_stop_at_first_error(admin_user):
    assignment = steps_assignment(admin_user)

    judgement, _ = judgement_submit(
        assignment=assignment, answer=StepsAnswer(step_labels=[1, 0, -1], finish_reason="found_error")
    )

    assert (judgement.step_labels, judgement.finish_reason) == ([1, 0, -1], "found_error")


@pytest.mark.parametrize(
    ("labels", "reason", "field"),
    [
        ([1, -1, 1], "found_error", "step_labels[2]"),
        ([1, 1, 1, 1], "found_error", "finish_reason"),
        ([1, 1], "solution", "step_labels"),
        ([1, 1, 2], "give_up", "step_labels"),
        ([1, 1, 1, 1, 1], "solution", "step_labels"),
        ([1, 1, 1, 1], "", "finish_reason"),
    ],
)
def test_bad_step_answers(admin_user, labels, reason, field):
    assignment = steps_assignment(admin_user)

    with pytest.raises(ApplicationError) as caught:
        judgement_submit(assignment=assignment, answer=StepsAnswer(step_labels=labels, finish_reason=reason))

    assert caught.value.errors[0]["field"] == field


def test_without_stopping_every_step_is_labelled(admin_user):
    assignment = steps_assignment(admin_user, stop=False)

    with pytest.raises(ApplicationError):
        judgement_submit(assignment=assignment, answer=StepsAnswer(step_labels=[1, -1], finish_reason="found_error"))
    judgement, _ = judgement_submit(
        assignment=assignment, answer=StepsAnswer(step_labels=[1, -1, 1, 0], finish_reason="found_error")
    )

    assert judgement.step_labels == [1, -1, 1, 0]


def test_give_up_and_bad_problem_accept_partial_labels(admin_user):
    assignment = steps_assignment(admin_user)

    judgement, _ = judgement_submit(
        assignment=assignment, answer=StepsAnswer(step_labels=[1], finish_reason="bad_problem")
    )

    assert judgement.finish_reason == "bad_problem"


def test_steps_gold_labels_are_required_in_the_import(admin_user):
    project = ProjectFactory(task_kind="steps", members=[admin_user])

    with pytest.raises(ApplicationError) as caught:
        import_lines(project, [steps_line(1, gold={"finish_reason": "solution"})])

    assert caught.value.errors[0]["field"] == "gold.labels"


def test_idempotent_resubmit_of_steps(admin_user):
    assignment = steps_assignment(admin_user)
    answer = StepsAnswer(step_labels=[1, 1, 1, 1], finish_reason="solution")

    first, _ = judgement_submit(assignment=assignment, answer=answer)
    second, created = judgement_submit(assignment=assignment, answer=answer)

    assert (second.pk, created) == (first.pk, False)
    with pytest.raises(ApplicationError) as conflict:
        judgement_submit(assignment=assignment, answer=StepsAnswer(step_labels=[1, 1, 1, 0], finish_reason="solution"))
    assert conflict.value.status_code == 409
