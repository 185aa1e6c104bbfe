"""API permissions: reads need a logged-in user; each write action names the perms it needs."""

from rest_framework.permissions import BasePermission


class ActionPermissions(BasePermission):
    """Require a logged-in user, and for the view's action the perms in `required_permissions`.

    A viewset declares `required_permissions = {"create": ["app.add_model"], ...}`; actions it does
    not list need only a logged-in user.
    """

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        needed = getattr(view, "required_permissions", {}).get(getattr(view, "action", None), ())
        return request.user.has_perms(needed)
