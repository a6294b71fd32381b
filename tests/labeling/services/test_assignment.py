from datetime import timedelta

import pytest
from django.utils import timezone

from common.exceptions import ApplicationError
from labeling.models import Assignment, Item
from labeling.services.assignment import (
    assignment_claim_next,
    assignment_skip,
    assignments_release_expired,
)
from labeling.services.judgement import ComparisonAnswer, judgement_submit
from labeling.services.projects import batch_update
from tests.labeling.factories import ProjectFactory, comparison_line, import_lines, rater_in

pytestmark = pytest.mark.django_db

ANSWER = ComparisonAnswer(ranking=[["a"], ["b"]], strength=1)


def judge(assignment):  # type: ignore[no-untyped-def]
    return judgement_submit(assignment=assignment, answer=ANSWER)


@pytest.fixture
def project3(admin_user):  # type: ignore[no-untyped-def]
    return ProjectFactory(overlap=3, members=[admin_user])


def test_claim_returns_a_lease_with_expiry_and_shuffled_display_order(project, rater):
    import_lines(project, [comparison_line(1, n_responses=5)])
    now = timezone.now()

    assignment = assignment_claim_next(project=project, rater=rater, now=now)

    assert assignment.status == "active"
    assert assignment.expires_at == now + timedelta(seconds=project.lease_seconds)
    assert sorted(assignment.display_order) == ["a", "b", "c", "d", "e"]
    assert Item.objects.get(pk=assignment.item_id).lease_count == 1


def test_overlap_is_never_exceeded(project3):
    import_lines(project3, [comparison_line(1)])
    raters = [rater_in(project3, f"r{i}") for i in range(5)]

    claims = [assignment_claim_next(project=project3, rater=r) for r in raters]

    assert [c is not None for c in claims] == [True, True, True, False, False]


def test_rater_never_gets_an_item_twice(project3, rater):
    project3.memberships.create(user=rater)
    import_lines(project3, [comparison_line(i) for i in range(3)])

    seen = []
    while (assignment := assignment_claim_next(project=project3, rater=rater)) is not None:
        seen.append(assignment.item_id)
        judge(assignment)

    assert len(seen) == 3 == len(set(seen))


def test_higher_priority_batch_first_then_fewest_judgements(project3):
    low = import_lines(project3, [comparison_line(i) for i in range(3)], name="low", priority=0)
    high = import_lines(project3, [comparison_line(i) for i in range(3)], name="high", priority=5)
    Item.objects.filter(batch=high, external_id="q-0").update(judgement_count=2)
    rater = rater_in(project3, "r")

    order = []
    while (assignment := assignment_claim_next(project=project3, rater=rater)) is not None:
        item = Item.objects.get(pk=assignment.item_id)
        order.append((item.batch.name, item.external_id))
        judge(assignment)

    assert order == [("high", "q-1"), ("high", "q-2"), ("high", "q-0"), ("low", "q-0"), ("low", "q-1"), ("low", "q-2")]
    assert low.pk != high.pk


def test_breadth_first_across_raters(project3):
    import_lines(project3, [comparison_line(i) for i in range(3)])
    first, second = rater_in(project3, "r1"), rater_in(project3, "r2")
    for _ in range(3):
        judge(assignment_claim_next(project=project3, rater=first))

    assignment = assignment_claim_next(project=project3, rater=second)

    # every item has one judgement; the second rater starts from the oldest
    assert Item.objects.get(pk=assignment.item_id).external_id == "q-0"


def test_paused_batch_is_not_served(project, rater):
    batch = import_lines(project, [comparison_line(1)])
    batch_update(batch=batch, status="paused")

    assert assignment_claim_next(project=project, rater=rater) is None


def test_returning_rater_gets_own_unexpired_assignment(project, rater):
    import_lines(project, [comparison_line(i) for i in range(3)])
    first = assignment_claim_next(project=project, rater=rater)

    again = assignment_claim_next(project=project, rater=rater)

    assert again.pk == first.pk


def test_holding_preloads_a_second_task(project, rater):
    import_lines(project, [comparison_line(i) for i in range(3)])
    current = assignment_claim_next(project=project, rater=rater)

    preloaded = assignment_claim_next(project=project, rater=rater, holding=[current.pk])

    assert preloaded.pk != current.pk
    assert assignment_claim_next(project=project, rater=rater, holding=[current.pk]).pk == preloaded.pk


def test_lease_cap_per_rater(project, rater):
    import_lines(project, [comparison_line(i) for i in range(10)])
    held = []
    for _ in range(3):
        held.append(assignment_claim_next(project=project, rater=rater, holding=held).pk)

    with pytest.raises(ApplicationError) as caught:
        assignment_claim_next(project=project, rater=rater, holding=held)

    assert caught.value.status_code == 409


def test_expired_lease_returns_item_to_the_pool_at_claim_time(project, rater, outsider):
    project.memberships.create(user=outsider)
    import_lines(project, [comparison_line(1)])
    start = timezone.now()
    stale = assignment_claim_next(project=project, rater=rater, now=start)
    later = start + timedelta(seconds=project.lease_seconds + 1)

    taken = assignment_claim_next(project=project, rater=outsider, now=later)

    stale.refresh_from_db()
    assert stale.status == "expired"
    assert taken.item_id == stale.item_id
    assert Item.objects.get(pk=taken.item_id).lease_count == 1


def test_periodic_sweep_releases_expired_leases(project, rater):
    import_lines(project, [comparison_line(i) for i in range(2)])
    start = timezone.now()
    assignment = assignment_claim_next(project=project, rater=rater, now=start)

    released = assignments_release_expired(now=start + timedelta(days=1))

    assignment.refresh_from_db()
    assert released == 1
    assert assignment.status == "expired"
    assert Item.objects.get(pk=assignment.item_id).lease_count == 0


def test_rater_takes_up_own_expired_lease_again(project, rater):
    import_lines(project, [comparison_line(1)])
    start = timezone.now()
    first = assignment_claim_next(project=project, rater=rater, now=start)

    again = assignment_claim_next(project=project, rater=rater, now=start + timedelta(days=1))

    assert again.pk == first.pk
    assert again.status == "active"
    assert Item.objects.get(pk=again.item_id).lease_count == 1


def test_skip_frees_the_item_for_others_but_not_for_the_skipper(project, rater, outsider):
    project.memberships.create(user=outsider)
    import_lines(project, [comparison_line(1)])
    assignment = assignment_claim_next(project=project, rater=rater)

    assignment_skip(assignment=assignment, reason="outside my expertise")

    assert Assignment.objects.get(pk=assignment.pk).skip_reason == "outside my expertise"
    assert assignment_claim_next(project=project, rater=rater) is None
    assert assignment_claim_next(project=project, rater=outsider) is not None


def test_skip_needs_a_reason(project, rater):
    import_lines(project, [comparison_line(1)])
    assignment = assignment_claim_next(project=project, rater=rater)

    with pytest.raises(ApplicationError, match="why"):
        assignment_skip(assignment=assignment, reason="  ")


def test_non_member_cannot_claim(project, outsider):
    from django.http import Http404

    import_lines(project, [comparison_line(1)])

    with pytest.raises(Http404):
        assignment_claim_next(project=project, rater=outsider)


def test_randomised_assistance_assigns_both_arms(admin_user):
    project = ProjectFactory(assistance_mode="randomised", overlap=1, members=[admin_user])
    import_lines(project, [comparison_line(i) for i in range(60)])
    rater = rater_in(project, "r")

    arms = []
    for _ in range(60):
        assignment = assignment_claim_next(project=project, rater=rater)
        arms.append(assignment.assistance_shown)
        judge(assignment)

    assert 10 < sum(arms) < 50
