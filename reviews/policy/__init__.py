"""The content policy: the TPL-* rules, word lists, variables, length and parts.

Public interface (other apps import the modules, this package imports nothing):
- ``reviews.policy.checker.check_content(kind=..., text=..., signature=..., message_class=...,
  allowed_variables=..., use=...)`` → ``CheckResult`` (``findings``, ``ok``, ``length``, ``parts``);
- ``reviews.policy.length``: ``count_parts``, ``full_message``, ``unsubscribe_suffix``;
- ``reviews.policy.variables``: ``render``, ``variable_specs``;
- ``reviews.choices``: ``MessageClass``, ``ContentUse``, ``ContentKind``.
"""
