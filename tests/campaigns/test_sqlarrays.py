"""Array literals round-trip through PostgreSQL exactly, whatever the text holds."""

from __future__ import annotations

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from campaigns.sqlarrays import sql_int_array, sql_text_array

pytestmark = pytest.mark.django_db


TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT, st.sampled_from(["NULL", "", " ", '"', "\\", "{a,b}", "a\tb\n"]))))
def test_it_round_trips_any_text_and_nulls(values):
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [sql_text_array(values)])
        assert cursor.fetchone()[0] == values


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1)))
@settings(max_examples=40, deadline=None)
def test_it_round_trips_bigints(values):
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::bigint[]", [sql_int_array(values)])
        assert cursor.fetchone()[0] == values


def test_it_refuses_what_is_not_an_integer():
    with pytest.raises(ValueError):
        sql_int_array(["1); DROP TABLE x; --"])


def test_it_writes_ids_and_digit_strings_unquoted_and_reads_them_back():
    assert sql_text_array([3, 1, 2]) == "{3,1,2}"
    assert sql_text_array(["13800138000", "13900139000"]) == "{13800138000,13900139000}"
    assert sql_text_array([1, None]) == "{1,NULL}"
    with connection.cursor() as cursor:
        ids, texts = sql_text_array([3, None, 1]), sql_text_array(["007", "１２"])
        cursor.execute("SELECT %s::bigint[], %s::text[]", [ids, texts])
        assert cursor.fetchone() == ([3, None, 1], ["007", "１２"])
