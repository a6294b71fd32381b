"""OpenAPI naming: a view's nested InputSerializer/OutputSerializer become "<View>Input"/"<View>Output"
components, so serializers that share a short name inside different views never collide."""

from drf_spectacular.openapi import AutoSchema


class OversightAutoSchema(AutoSchema):
    def _get_serializer_name(self, serializer, direction, bypass_extensions=False):  # type: ignore[no-untyped-def]
        name = super()._get_serializer_name(serializer, direction, bypass_extensions)
        cls = serializer if isinstance(serializer, type) else type(serializer)
        owner, _, _ = cls.__qualname__.rpartition(".")
        if owner and "<locals>" not in owner:
            name = owner.split(".")[-1].removesuffix("Api") + name
        return name
