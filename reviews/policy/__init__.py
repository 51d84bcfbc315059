"""The content policy: the TPL-* rules, word lists, variables, length and parts.

Public interface (other apps call these):
- ``check_content(kind=..., text=..., signature=..., message_class=..., allowed_variables=...)``
  → ``CheckResult`` (``findings``, ``ok``, ``length``, ``parts``);
- ``reviews.policy.length``: ``count_parts``, ``full_message``, ``unsubscribe_suffix``;
- ``reviews.policy.variables``: ``render``, ``variable_specs``;
- ``MessageClass``, ``ContentUse``, ``ContentKind``.
"""

from reviews.policy.checker import CheckResult, check_content
from reviews.policy.classes import ContentKind, ContentUse, MessageClass

__all__ = ["CheckResult", "ContentKind", "ContentUse", "MessageClass", "check_content"]
