import pytest

from assist.services.generation import assist_plan_batch, assist_run_chunk
from labeling.models import Judgement
from tests.labeling.factories import ProjectFactory, UserFactory, comparison_line, import_lines, rater_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_rater_sees_labelled_critiques_rates_one_and_can_fold_them(page, live_server, login, tiny_backend):
    admin = UserFactory(username="admin-ap", role="admin")
    project = ProjectFactory(name="Assisted", overlap=1, members=[admin])
    batch = import_lines(project, [comparison_line(1)])
    assist_run_chunk(artifact_ids=assist_plan_batch(batch=batch))
    rater = rater_in(project, "assisted-rater")
    login(page, rater.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("details.assist")

    panels = page.locator("details.assist")
    assert panels.count() == 2
    assert "AI-written critique" in panels.first.locator("summary").inner_text()
    first_id = panels.first.get_attribute("data-assist")
    panels.first.locator("button.rate", has_text="6").click()
    page.keyboard.press("h")
    assert page.evaluate("[...document.querySelectorAll('details.assist')].every(d => !d.open)")
    page.keyboard.press("1")
    page.keyboard.press("a")
    page.keyboard.press("Enter")

    page.wait_for_selector("#empty:not([hidden])")
    judgement = Judgement.objects.get(rater=rater)
    assert judgement.assist_ratings == {first_id: 6}
    shown = judgement.assignment.assists_shown
    assert len(shown) == 2 and int(first_id) in shown
