"""Signals the merchant core sends for higher layers (which it may not import).

``member_removed``: sent inside the removal's transaction, after the membership is deleted, with
``shop_id``, ``member_user`` and ``actor``. A receiver does its part in the same transaction
(campaigns revokes the member's API keys) and returns a list of Chinese lines saying what it did.

``member_removal_effects``: sent by the removal's confirmation page with ``shop_id`` and
``member_user``; a receiver returns Chinese lines saying what the removal would also do.
"""

from django.dispatch import Signal

member_removed = Signal()
member_removal_effects = Signal()
