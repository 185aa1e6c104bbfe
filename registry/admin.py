from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from registry.forms import PromoteRunForm
from registry.models import (
    AliasChange,
    ModelAlias,
    ModelArtifact,
    ModelFile,
    ModelVersion,
    RegistryEvent,
)


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ["version", "status", "short_digest", "size", "source_run", "tags", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False
    ordering = ["-created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="size")
    def size(self, version: ModelVersion) -> str:
        return filesizeformat(version.size_bytes)


@admin.register(ModelArtifact)
class ModelArtifactAdmin(admin.ModelAdmin):
    """Model families with their versions inline."""

    list_display = ["name", "repo_id", "task_type", "version_count", "updated_at"]
    list_filter = ["task_type"]
    search_fields = ["name", "repo_id", "description"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [ModelVersionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).with_version_counts()

    @admin.display(description="ready versions", ordering="version_count")
    def version_count(self, artifact: ModelArtifact) -> int:
        return artifact.version_count


class ModelFileInline(admin.TabularInline):
    model = ModelFile
    fields = ["path", "size_bytes", "sha256"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    """Promoted versions: read-only once ready, except their tags. New ones come by promotion."""

    list_display = [
        "version",
        "artifact",
        "status",
        "short_digest",
        "size",
        "source_run_link",
        "created_at",
    ]
    list_filter = ["status", "artifact__task_type", "layout"]
    search_fields = ["artifact__name", "=sha256", "sha256__startswith", "=commit", "version"]
    list_select_related = ["artifact", "source_run"]
    inlines = [ModelFileInline]
    actions = ["verify_selected"]
    fields = [
        "artifact",
        "version",
        "status",
        "layout",
        "sha256",
        "commit",
        "size_bytes",
        "file_count",
        "storage_uri",
        "source_run",
        "tags",
        "metrics_json",
        "config_json",
        "provenance_json",
        "created_at",
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f for f in self.fields if f != "tags"]

    def has_add_permission(self, request) -> bool:
        # Versions are made by promotion only: the changelist links to the promote form instead.
        return False

    def save_model(self, request, obj, form, change):
        # Tags are the only editable field; changing them goes through the audited path.
        ModelVersion.objects.get(pk=obj.pk).set_tags(obj.tags, user=request.user)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="digest", ordering="sha256")
    def short_digest(self, version: ModelVersion) -> str:
        return version.short_digest

    @admin.display(description="size", ordering="size_bytes")
    def size(self, version: ModelVersion) -> str:
        return filesizeformat(version.size_bytes)

    @admin.display(description="source run", ordering="source_run__name")
    def source_run_link(self, version: ModelVersion) -> str:
        if version.source_run is None:
            return f"(deleted) {version.provenance_json.get('run_name', '')}"
        url = reverse("admin:runs_tunixrun_change", args=[version.source_run_id])
        return format_html('<a href="{}">{}</a>', url, version.source_run.name)

    @admin.action(description="Verify selected versions (re-hash their blobs)")
    def verify_selected(self, request, queryset):
        for version in queryset.select_related("artifact"):
            bad = [c for c in version.verify(user=request.user) if not c.ok]
            if bad:
                details = "; ".join(f"{c.path}: {c.status}" for c in bad)
                self.message_user(request, f"{version}: {details}", messages.ERROR)
            else:
                self.message_user(request, f"{version}: all files intact", messages.SUCCESS)

    def get_urls(self):
        promote = self.admin_site.admin_view(self.promote_view)
        return [
            path("promote/", promote, name="registry_modelversion_promote"),
            *super().get_urls(),
        ]

    def promote_view(self, request):
        """Promote a run from the admin: the same manager method as every other entry point."""
        if not request.user.has_perm("registry.add_modelversion"):
            return redirect("admin:registry_modelversion_changelist")
        form = PromoteRunForm(request.POST or None, initial={"run": request.GET.get("run")})
        if request.method == "POST" and form.is_valid():
            result = form.promote(user=request.user)
            if result:
                version, created = result
                verb = "Promoted" if created else "Already promoted as"
                self.message_user(request, f"{verb} {version} (sha256:{version.short_digest})")
                return redirect("admin:registry_modelversion_change", version.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": "Promote a run",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/registry/modelversion/promote.html", context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records nobody edits here: the audit trail and alias history are append-only."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RegistryEvent)
class RegistryEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "kind", "artifact", "version", "actor_name"]
    list_filter = ["kind", "at"]
    search_fields = ["artifact__name", "actor_name"]
    list_select_related = ["artifact", "version"]


@admin.register(AliasChange)
class AliasChangeAdmin(ReadOnlyAdmin):
    list_display = ["at", "artifact", "alias", "kind", "from_version", "to_version", "actor_name"]
    list_filter = ["kind", "at"]
    search_fields = ["artifact__name", "alias", "actor_name", "reason"]
    list_select_related = ["artifact", "from_version", "to_version"]


@admin.register(ModelAlias)
class ModelAliasAdmin(ReadOnlyAdmin):
    """Aliases move through their gates (API, pages, `set_alias`), so here they are read-only."""

    list_display = ["artifact", "name", "version", "requires_completed_eval", "updated_at"]
    search_fields = ["artifact__name", "name"]
    list_select_related = ["artifact", "version"]

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm("registry.view_modelalias")
