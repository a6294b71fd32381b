import pytest

from labeling.models import Judgement
from tests.labeling.factories import ProjectFactory, UserFactory, import_lines, rater_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RESPONSE = "The Eiffel Tower is in Rome and was finished in 1889."


def test_steps_are_labelled_with_the_keyboard_and_stop_at_the_first_error(page, live_server, login):
    admin = UserFactory(username="admin-st", role="admin")
    project = ProjectFactory(name="Steps", task_kind="steps", members=[admin])
    import_lines(
        project,
        [
            {
                "id": "s1",
                "kind": "steps",
                "prompt": "Solve 2x = 6",
                "responses": [{"steps": ["Divide by 2", "x = 4", "Check: 2*4=8", "Done"]}],
            }
        ],
    )
    rater = rater_in(project, "step-rater")
    login(page, rater.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("ol.steps .step.current")

    page.keyboard.press("+")
    page.keyboard.press("-")

    assert page.locator("ol.steps .step.locked").count() == 2
    assert page.locator("button.finish-option.selected").get_attribute("data-finish") == "found_error"
    page.keyboard.press("Enter")
    page.wait_for_selector("#empty:not([hidden])")
    judgement = Judgement.objects.get(rater=rater)
    assert (judgement.step_labels, judgement.finish_reason) == ([1, -1], "found_error")


def test_critique_flaw_quotes_a_span_selected_with_the_mouse(page, live_server, login):
    admin = UserFactory(username="admin-cr", role="admin")
    project = ProjectFactory(name="Critique", task_kind="critique", members=[admin])
    import_lines(
        project,
        [{"id": "c1", "kind": "critique", "prompt": "Where is the Eiffel Tower?", "responses": [{"text": RESPONSE}]}],
    )
    rater = rater_in(project, "critic-rater")
    login(page, rater.username)
    page.goto(f"{live_server.url}/projects/{project.pk}/label/")
    page.wait_for_selector("#critique-text")
    start = RESPONSE.index("Rome")

    # Select "Rome" with the mouse: drag across the word's on-screen box.
    box = page.evaluate(
        """([start, end]) => {
            const node = document.getElementById('critique-text').firstChild;
            const range = document.createRange();
            range.setStart(node, start); range.setEnd(node, end);
            const r = range.getBoundingClientRect();
            return {x0: r.left + 1, x1: r.right - 1, y: r.top + r.height / 2};
        }""",
        [start, start + 4],
    )
    page.mouse.move(box["x0"], box["y"])
    page.mouse.down()
    page.mouse.move(box["x1"], box["y"], steps=5)
    page.mouse.up()
    assert "Rome" in page.locator("#flaw-quote").inner_text()
    page.fill("#flaw-description", "The Eiffel Tower is in Paris")
    page.select_option("#flaw-severity", "critical")
    page.press("#flaw-description", "Enter")
    page.keyboard.press("Escape")
    page.keyboard.press("2")
    page.keyboard.press("Enter")

    page.wait_for_selector("#empty:not([hidden])")
    [flaw] = Judgement.objects.get(rater=rater).flaws
    assert flaw == {
        "description": "The Eiffel Tower is in Paris",
        "severity": "critical",
        "start": start,
        "end": start + 4,
        "quote": "Rome",
    }
