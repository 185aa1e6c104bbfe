"""API permissions: reads need a logged-in user; each write action names the perms it needs."""

from rest_framework.permissions import BasePermission


class ActionPermissions(BasePermission):
    """Require a logged-in user, and for the view's action the perms in `required_permissions`.

    A viewset declares `required_permissions = {"create": ["app.add_model"], ...}`, keyed by action
    or by `action:METHOD` for an action that answers several methods; what it does not list needs
    only a logged-in user.
    """

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        required = getattr(view, "required_permissions", {})
        action = getattr(view, "action", None)
        needed = required.get(f"{action}:{request.method}", required.get(action, ()))
        return request.user.has_perms(needed)
