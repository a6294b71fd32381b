from django.db import migrations

from assist.prompts import CRITIQUE_SYSTEM, CRITIQUE_TEMPLATE, SUMMARY_SYSTEM, SUMMARY_TEMPLATE

def create(apps, schema_editor):
    PromptTemplate = apps.get_model("assist", "PromptTemplate")
    PromptTemplate.objects.get_or_create(
        kind="critique", version=1, defaults={"system": CRITIQUE_SYSTEM, "template": CRITIQUE_TEMPLATE}
    )
    PromptTemplate.objects.get_or_create(
        kind="summary", version=1, defaults={"system": SUMMARY_SYSTEM, "template": SUMMARY_TEMPLATE}
    )


class Migration(migrations.Migration):
    dependencies = [("assist", "0001_initial")]
    operations = [migrations.RunPython(create, migrations.RunPython.noop)]
