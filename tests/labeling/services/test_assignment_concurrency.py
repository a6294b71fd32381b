"""Races on real PostgreSQL with real threads (each thread has its own connection)."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from labeling.models import Assignment, Item, Judgement
from labeling.services.assignment import assignment_claim_next
from labeling.services.judgement import ComparisonAnswer, judgement_submit
from tests.labeling.factories import ProjectFactory, UserFactory, comparison_line, import_lines, rater_in

pytestmark = pytest.mark.django_db(transaction=True)


def run_parallel(fn, args_list):  # type: ignore[no-untyped-def]
    barrier = threading.Barrier(len(args_list))

    def call(args):  # type: ignore[no-untyped-def]
        barrier.wait()
        try:
            return fn(*args)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=len(args_list)) as pool:
        return list(pool.map(call, args_list))


def test_fifty_parallel_claims_respect_overlap_and_never_repeat():
    admin = UserFactory(username="admin-c", role="admin")
    project = ProjectFactory(overlap=2, members=[admin])
    import_lines(project, [comparison_line(i) for i in range(20)])
    raters = [rater_in(project, f"rater-{i}") for i in range(25)]

    # 25 raters x 2 claims each (the second preloads while holding the first): 50 parallel claims.
    first = run_parallel(lambda r: assignment_claim_next(project=project, rater=r), [(r,) for r in raters])
    second = run_parallel(
        lambda r, a: assignment_claim_next(project=project, rater=r, holding=[a.pk]),
        list(zip(raters, first, strict=True)),
    )

    claimed = [a for a in first + second if a is not None]
    assert len(claimed) == 40  # 20 items x overlap 2
    per_item = Counter(a.item_id for a in claimed)
    assert max(per_item.values()) <= 2
    per_rater_items = Counter((a.rater_id, a.item_id) for a in claimed)
    assert max(per_rater_items.values()) == 1
    for item in Item.objects.all():
        assert item.lease_count == Assignment.objects.filter(item=item, status="active").count() <= 2


def test_one_rater_claiming_in_parallel_gets_one_assignment():
    admin = UserFactory(username="admin-d", role="admin")
    project = ProjectFactory(overlap=1, members=[admin])
    import_lines(project, [comparison_line(i) for i in range(10)])
    rater = rater_in(project, "eager")

    results = run_parallel(lambda: assignment_claim_next(project=project, rater=rater), [()] * 10)

    assert len({a.pk for a in results}) == 1
    assert Assignment.objects.filter(rater=rater).count() == 1


def test_identical_concurrent_submits_make_one_judgement():
    admin = UserFactory(username="admin-e", role="admin")
    project = ProjectFactory(overlap=1, members=[admin])
    import_lines(project, [comparison_line(1)])
    rater = rater_in(project, "double-clicker")
    assignment = assignment_claim_next(project=project, rater=rater)
    answer = ComparisonAnswer(ranking=[["b"], ["a"]], strength=2)

    results = run_parallel(lambda: judgement_submit(assignment=assignment, answer=answer), [()] * 8)

    assert len({judgement.pk for judgement, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert Judgement.objects.count() == 1
    assert Item.objects.get().judgement_count == 1
