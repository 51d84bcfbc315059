"""Writes of the reviews app, one module per sub-domain.

- ``review``: generic review decisions shared by every kind;
- ``signatures``: submit / withdraw / approve / reject signatures;
- ``templates``: message templates;
- ``wordlists``: publishing a content word list as a new version;
- ``findings``: refreshing the stored findings of pending items.
"""
