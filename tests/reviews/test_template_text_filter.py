"""Template texts shown to merchants: variables as labelled chips, everything else escaped."""

from __future__ import annotations

import pytest

from reviews.templatetags.template_text import variable_chips

pytestmark = pytest.mark.django_db


def test_it_shows_known_variables_as_their_labels():
    html = variable_chips("送您${coupon_amount}优惠券")
    assert html.startswith("送您<span class=\"var-chip\" title=\"${coupon_amount}\">")
    assert "优惠券面额</span>优惠券" in html


def test_it_escapes_the_text_and_leaves_unknown_tokens_as_typed():
    html = variable_chips("<b>好</b>${nope}&")
    assert html == "&lt;b&gt;好&lt;/b&gt;${nope}&amp;"
