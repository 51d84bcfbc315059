"""Django's ModelBackend, with a user's permissions read in one query instead of two.

``ModelBackend`` reads a user's own permissions and their groups' permissions with two ORM
queries, each compiled again on every request (the first ``has_perm`` of a request; the admin's
sidebar checks ~200 permissions on every admin page). Here both sets come from one hand-written
SQL statement (a UNION ALL of the two joins) that fills the same per-user-object caches Django
fills (``_user_perm_cache``, ``_group_perm_cache``; ``_perm_cache`` is their union, as in Django),
so every other behaviour is Django's: inactive and anonymous users and object permissions get
an empty set, superusers get every permission through Django's own code, ``with_perm``,
``authenticate`` and the async methods are untouched. Nothing outlives the user object, which is
loaded again on every request: a revoked permission is refused on the next request.

Compared with ``ModelBackend`` in tests/smsmarketing/test_auth_backends.py.
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connections, router


def _m2m_join(field) -> tuple[str, str, str]:
    """(table, column to the owning model, column to the target) of a many-to-many field."""
    return field.m2m_db_table(), field.m2m_column_name(), field.m2m_reverse_name()


def _permissions_sql(user_model, quote) -> str:
    user_perms = _m2m_join(user_model._meta.get_field("user_permissions"))
    user_groups = _m2m_join(user_model._meta.get_field("groups"))
    group_model = user_model._meta.get_field("groups").related_model
    group_perms = _m2m_join(group_model._meta.get_field("permissions"))
    perm_table = quote(Permission._meta.db_table)
    content_type = Permission._meta.get_field("content_type")
    ct_table = quote(content_type.related_model._meta.db_table)
    # auth_permission p JOIN django_content_type ct, written once for both halves.
    permission = (
        f"JOIN {perm_table} p ON p.{quote(Permission._meta.pk.column)} = {{link}} "
        f"JOIN {ct_table} ct ON ct.{quote(content_type.related_model._meta.pk.column)} "
        f"= p.{quote(content_type.column)} "
    )
    select = f"ct.{quote('app_label')}, p.{quote('codename')}"
    return (
        f"SELECT 'user', {select} FROM {quote(user_perms[0])} up "
        + permission.format(link=f"up.{quote(user_perms[2])}")
        + f"WHERE up.{quote(user_perms[1])} = %s "
        f"UNION ALL SELECT 'group', {select} FROM {quote(user_groups[0])} ug "
        f"JOIN {quote(group_perms[0])} gp ON gp.{quote(group_perms[1])} = ug.{quote(user_groups[2])} "
        + permission.format(link=f"gp.{quote(group_perms[2])}")
        + f"WHERE ug.{quote(user_groups[1])} = %s"
    )


class PermissionBackend(ModelBackend):
    """``ModelBackend`` whose user and group permissions are read together, in one query."""

    _sql: dict[tuple[type, str], str] = {}

    def _get_permissions(self, user_obj, obj, from_name):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None or user_obj.is_superuser:
            return super()._get_permissions(user_obj, obj, from_name)
        cache_name = f"_{from_name}_perm_cache"
        if not hasattr(user_obj, cache_name):
            self._load_permissions(user_obj)
        return getattr(user_obj, cache_name)

    def _load_permissions(self, user_obj) -> None:
        """Fill the missing ones of ``_user_perm_cache`` and ``_group_perm_cache`` from one query."""
        # The user's database, where its permission and group rows are (as user.user_permissions).
        connection = connections[router.db_for_read(Permission, instance=user_obj)]
        # __class__, not type(): request.user is a SimpleLazyObject, which proxies __class__.
        key = (user_obj.__class__, connection.alias)
        if key not in self._sql:
            self._sql[key] = _permissions_sql(user_obj.__class__, connection.ops.quote_name)
        found: dict[str, set[str]] = {"user": set(), "group": set()}
        with connection.cursor() as cursor:
            cursor.execute(self._sql[key], [user_obj.pk, user_obj.pk])
            for source, app_label, codename in cursor.fetchall():
                found[source].add(f"{app_label}.{codename}")
        for source, perms in found.items():
            if not hasattr(user_obj, f"_{source}_perm_cache"):
                setattr(user_obj, f"_{source}_perm_cache", perms)
