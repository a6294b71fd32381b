import io
import json

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from labeling.models import Project, ProjectMembership
from labeling.services.batch_import import batch_import


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-1")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        if create and extracted:
            self.groups.add(Group.objects.get_or_create(name=extracted)[0])
            if extracted == "admin":
                self.is_staff = True
                self.save(update_fields=["is_staff"])


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Project {n}")
    instructions = "Pick the better response."
    task_kind = "comparison"
    gold_rate = 0.0  # tests that mix gold items in say so

    @factory.post_generation
    def members(self, create, extracted, **kwargs):  # type: ignore[no-untyped-def]
        for user in extracted or []:
            ProjectMembership.objects.get_or_create(project=self, user=user)


def comparison_line(index: int, *, n_responses: int = 2, **overrides) -> dict:
    line = {
        "id": f"q-{index}",
        "kind": "comparison",
        "prompt": f"Question {index}?",
        "responses": [
            {"id": chr(97 + r), "text": f"Answer {r} to {index}", "model": f"m{r}"} for r in range(n_responses)
        ],
    }
    line.update(overrides)
    return line


def jsonl(lines: list) -> bytes:
    return "".join((json.dumps(line) if not isinstance(line, str) else line) + "\n" for line in lines).encode()


def import_lines(project: Project, lines: list, *, name: str = "batch", **kwargs):  # type: ignore[no-untyped-def]
    """Create items the way users do: through the import service."""
    return batch_import(project=project, stream=io.BytesIO(jsonl(lines)), name=name, **kwargs)


def rater_in(project: Project, username: str):  # type: ignore[no-untyped-def]
    user = UserFactory(username=username, role="rater")
    ProjectMembership.objects.get_or_create(project=project, user=user)
    return user
