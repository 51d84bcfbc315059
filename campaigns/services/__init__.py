"""Writes of the campaigns app, one module per sub-domain (import the module you need).

- ``frequency``: send eligibility: frequency caps, quiet hours, counters   [frequency issue]
- ``optouts``: recording opt-outs and re-subscriptions                     [frequency issue]
Kept free of imports so that importing one sub-module never loads the others.
"""
