from django import forms
from django.db.models import QuerySet

from labeling.models import Batch, Project, TaskKind
from rewardmodel.formats import format_choices
from rewardmodel.models import DatasetSnapshot
from rewardmodel.services.snapshots import ExportDefinition
from rewardmodel.training.model import BUNDLED_MINILM
from rewardmodel.training.trainer import TrainConfig


class ExportForm(forms.Form):
    """The export page's form; it only shapes input. The service validates the definition."""

    name = forms.CharField(max_length=200, required=False)
    format = forms.ChoiceField(choices=format_choices, initial="trl-jsonl")
    projects = forms.ModelMultipleChoiceField(queryset=Project.objects.none(), required=False)
    batches = forms.ModelMultipleChoiceField(
        queryset=Batch.objects.none(), required=False, help_text="Optional: only these batches."
    )
    exclude_gold = forms.BooleanField(required=False, label="Exclude gold (quality-control) items")
    exclude_all_bad = forms.BooleanField(required=False, label="Exclude items marked all bad")
    exclude_flags = forms.CharField(
        required=False, help_text="Exclude items tagged with any of these flags (comma-separated)."
    )
    min_rater_gold_accuracy = forms.FloatField(required=False, min_value=0, max_value=1)
    min_item_agreement = forms.FloatField(required=False, min_value=0, max_value=1)
    aggregation = forms.ChoiceField(
        choices=[("every", "Every judgement as its own pairs"), ("majority", "Majority per pair")], initial="every"
    )
    ties = forms.ChoiceField(choices=[("drop", "Drop ties"), ("keep", "Keep ties (margin 0)")], initial="drop")
    use_reference = forms.BooleanField(required=False, label="Use imported reference labels (e.g. HH-RLHF)")
    margin = forms.ChoiceField(
        choices=[("strength", "From preference strength"), ("none", "Off (0.0)")], initial="strength"
    )
    test_fraction = forms.FloatField(initial=0.1, min_value=0, max_value=0.99)
    seed = forms.IntegerField(initial=0, min_value=0)
    license = forms.CharField(max_length=64, initial="unknown")

    def __init__(self, *args, projects: QuerySet[Project], **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        comparison = projects.filter(task_kind=TaskKind.COMPARISON)
        self.fields["projects"].queryset = comparison
        self.fields["batches"].queryset = Batch.objects.filter(project__in=comparison).select_related("project")
        self.fields["batches"].label_from_instance = lambda batch: f"{batch.project.name} / {batch.name}"

    def definition(self) -> ExportDefinition:
        data = self.cleaned_data
        return ExportDefinition(
            format=data["format"],
            projects=tuple(p.pk for p in data["projects"]),
            batches=tuple(b.pk for b in data["batches"]),
            exclude_gold=data["exclude_gold"],
            exclude_all_bad=data["exclude_all_bad"],
            exclude_flags=tuple(f.strip() for f in (data["exclude_flags"] or "").split(",") if f.strip()),
            min_rater_gold_accuracy=data["min_rater_gold_accuracy"],
            min_item_agreement=data["min_item_agreement"],
            aggregation=data["aggregation"],
            ties=data["ties"],
            use_reference=data["use_reference"],
            margin=data["margin"],
            test_fraction=data["test_fraction"] if data["test_fraction"] is not None else 0.1,
            seed=data["seed"] if data["seed"] is not None else 0,
            license=(data["license"] or "unknown").strip(),
        )


class TrainingRunForm(forms.Form):
    """The reward-model page's form; it only shapes input. The service validates the config."""

    snapshot = forms.ModelChoiceField(queryset=DatasetSnapshot.objects.none(), help_text="A done export of yours.")
    name = forms.CharField(max_length=200, required=False)
    base_model = forms.CharField(
        max_length=500, initial=BUNDLED_MINILM, help_text="bundled:minilm, a hub id or an absolute model folder."
    )
    max_length = forms.IntegerField(initial=TrainConfig.max_length)
    batch_size = forms.IntegerField(initial=TrainConfig.batch_size, help_text="Pairs per step.")
    learning_rate = forms.FloatField(initial=TrainConfig.learning_rate)
    epochs = forms.IntegerField(initial=TrainConfig.epochs)
    seed = forms.IntegerField(initial=TrainConfig.seed)
    use_margin = forms.BooleanField(required=False, initial=True, label="Use the export's margins")
    dropout = forms.BooleanField(required=False, initial=TrainConfig.dropout, label="Train with dropout")

    def __init__(self, *args, snapshots: QuerySet[DatasetSnapshot], **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["snapshot"].queryset = snapshots.filter(status=DatasetSnapshot.Status.DONE)
        self.fields["snapshot"].label_from_instance = lambda s: f"#{s.pk} {s.name or '(unnamed)'} · {s.export_format}"

    def config(self) -> TrainConfig:
        data = self.cleaned_data
        return TrainConfig(
            base_model=data["base_model"],
            max_length=data["max_length"],
            batch_size=data["batch_size"],
            learning_rate=data["learning_rate"],
            epochs=data["epochs"],
            seed=data["seed"],
            use_margin=data["use_margin"],
            dropout=data["dropout"],
        )


class BatchScoringForm(forms.Form):
    batch = forms.ModelChoiceField(queryset=Batch.objects.none())

    def __init__(self, *args, projects: QuerySet[Project], **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.fields["batch"].queryset = Batch.objects.filter(
            project__in=projects.filter(task_kind=TaskKind.COMPARISON)
        ).select_related("project")
        self.fields["batch"].label_from_instance = lambda batch: f"{batch.project.name} / {batch.name}"
