import pytest

from labeling.models import Judgement
from tests.labeling.factories import ProjectFactory, UserFactory, comparison_line, import_lines, rater_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def labeling_project():  # type: ignore[no-untyped-def]
    admin = UserFactory(username="admin-b", role="admin")
    project = ProjectFactory(name="Browser project", overlap=1, members=[admin])
    import_lines(
        project,
        [comparison_line(i, prompt=f"Question {i}: explain `code` **bold**") for i in range(5)]
        + [comparison_line(9, n_responses=3)],
    )
    return project


def test_rater_judges_three_pairwise_tasks_with_the_keyboard_only(page, live_server, login, labeling_project):
    rater = rater_in(labeling_project, "keyboard-rater")
    login(page, rater.username)
    page.goto(f"{live_server.url}/projects/{labeling_project.pk}/label/")

    shown = []
    for strength_key in ["a", "s", "d"]:
        page.wait_for_selector(".responses.pair .response")
        shown.append(page.locator("#task .prompt").inner_text())
        page.keyboard.press("1")
        page.keyboard.press(strength_key)
        page.keyboard.press("Enter")
        page.wait_for_function(
            "prev => !document.querySelector('#task .prompt') || document.querySelector('#task .prompt').innerText !== prev",
            arg=shown[-1],
        )

    judgements = list(Judgement.objects.filter(rater=rater).order_by("id"))
    assert len(judgements) == 3
    assert [j.strength for j in judgements] == [1, 2, 3]
    assert all(j.ranking == [[j.display_order[0]], [j.display_order[1]]] for j in judgements)
    assert len(set(shown)) == 3
    assert page.locator("#count-today").inner_text() == "3"


def test_submit_without_choice_shows_a_message_and_sends_nothing(page, live_server, login, labeling_project):
    rater = rater_in(labeling_project, "hasty-rater")
    login(page, rater.username)
    page.goto(f"{live_server.url}/projects/{labeling_project.pk}/label/")
    page.wait_for_selector(".responses .response")

    page.keyboard.press("Enter")

    assert "Choose the better response" in page.locator("#validation").inner_text()
    assert Judgement.objects.filter(rater=rater).count() == 0


def test_draft_survives_a_network_failure_and_is_resent(page, live_server, login, labeling_project):
    rater = rater_in(labeling_project, "offline-rater")
    login(page, rater.username)
    page.goto(f"{live_server.url}/projects/{labeling_project.pk}/label/")
    page.wait_for_selector(".responses.pair .response")
    page.route("**/submit/", lambda route: route.abort("internetdisconnected"))

    page.keyboard.press("2")
    page.keyboard.press("a")
    page.keyboard.press("Enter")

    page.wait_for_selector("#banner:not([hidden])")
    assert "Network problem" in page.locator("#banner").inner_text()
    assert Judgement.objects.filter(rater=rater).count() == 0
    outbox = page.evaluate(f"localStorage.getItem('oversight-outbox-{labeling_project.pk}')")
    assert '"strength":1' in outbox

    page.unroute("**/submit/")
    page.wait_for_function("document.getElementById('banner').hidden", timeout=15_000)
    assert Judgement.objects.filter(rater=rater).count() == 1


def test_k_way_ranking_with_ties_by_keys(page, live_server, login, labeling_project):
    from labeling.models import Batch

    project = ProjectFactory(name="K-way", overlap=1, members=list(labeling_project.members.all()))
    import_lines(project, [comparison_line(1, n_responses=4)])
    rater = rater_in(project, "ranker")
    login(page, rater.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector(".responses.grid .response")

    page.keyboard.press("3")
    page.keyboard.press("1")
    page.keyboard.press("Shift+Digit4")
    page.keyboard.press("2")
    page.keyboard.press("Enter")

    page.wait_for_selector("#empty:not([hidden])")
    judgement = Judgement.objects.get(rater=rater)
    order = judgement.display_order
    assert judgement.ranking == [[order[2]], [order[0], order[3]], [order[1]]]
    assert Batch.objects.filter(project=project).count() == 1
