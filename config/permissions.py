"""API permissions: reads need a logged-in user; each write action names the perms it needs.

These live in `config/` beside `DomainError` (config/exceptions.py): both serve every app, and
no app imports another for them.
"""

from rest_framework.permissions import BasePermission


class ActionPermissions(BasePermission):
    """Require a logged-in user, and for the view's action the perms in `required_permissions`.

    A viewset declares `required_permissions = {"create": ["app.add_model"], ...}`, keyed by action.
    A route that answers several methods maps each to its own action (DRF's
    `@action(...).mapping.put`), so each method names its perms under its action's name; what a
    viewset does not list needs only a logged-in user.
    """

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        required = getattr(view, "required_permissions", {})
        return request.user.has_perms(required.get(getattr(view, "action", None), ()))
