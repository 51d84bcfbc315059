"""Writes of the campaigns app, one module per sub-domain (import the module you need).

- ``importing``: the customer CSV import (preview, then one transaction)
- ``audience``: segments and coupons
- ``campaigns``: creating, scheduling, cancelling and stopping campaigns; message content; test SMS
- ``planning``, ``sending``, ``delivery``, ``pipeline``: the send pipeline (plan, dispatch,
  delivery reports and settlement, its settings)
- ``frequency``: send eligibility: frequency caps, quiet hours, counters
- ``optouts``: recording opt-outs and re-subscriptions
- ``inbound``: replies from handsets (opt-out keywords)
Kept free of imports so that importing one sub-module never loads the others.
"""
