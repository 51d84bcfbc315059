"""Writes of the reviews app, one module per sub-domain.

- ``review``: generic review decisions shared by every kind  [signatures issue]
- ``signatures``: submit / withdraw / approve / reject signatures  [signatures issue]
- ``templates``: message templates  [templates issue]
"""
