from django import forms

from labeling.models import Batch, Project
from labeling.roles import ROLES


class BatchUploadForm(forms.Form):
    file = forms.FileField(help_text="JSONL (or .jsonl.gz): one item a line, or HH-RLHF chosen/rejected lines.")
    name = forms.CharField(max_length=200, required=False, help_text="Defaults to the file name.")
    priority = forms.IntegerField(initial=0, min_value=-1000, max_value=1000)
    status = forms.ChoiceField(choices=Batch.Status.choices, initial=Batch.Status.LIVE)


class UserCreateForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=[(r, r) for r in ROLES])
    password = forms.CharField(widget=forms.PasswordInput, required=False, min_length=8)
    projects = forms.ModelMultipleChoiceField(queryset=Project.objects.none(), required=False)

    def __init__(self, *args, projects=None, **kwargs):  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        if projects is not None:
            self.fields["projects"].queryset = projects
