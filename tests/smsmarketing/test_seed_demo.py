import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.http import HttpRequest

from smsmarketing.models import Membership, Shop

pytestmark = pytest.mark.django_db


def counts():
    return (get_user_model().objects.count(), Shop.objects.count(), Membership.objects.count())


def test_it_creates_the_demo_users_and_shops(capsys):
    call_command("seed_demo")
    out = capsys.readouterr().out
    User = get_user_model()
    assert User.objects.get(username="admin").is_superuser
    reviewer = User.objects.get(username="reviewer")
    assert reviewer.groups.filter(name="reviewers").exists() and not reviewer.is_superuser
    assert Shop.objects.get(name="博康大药房").category.restricted
    assert not Shop.objects.get(name="爱丽丝服饰旗舰店").category.restricted
    assert "alice" in out and "demo-alice-pass" in out


def test_running_it_twice_creates_nothing_new():
    call_command("seed_demo")
    before = counts()
    call_command("seed_demo")
    assert counts() == before


def test_the_reviewers_group_exists_after_migrate():
    assert Group.objects.filter(name="reviewers").exists()


def test_demo_merchant_can_log_in(client):
    call_command("seed_demo")
    assert client.login(request=HttpRequest(), username="alice", password="demo-alice-pass")
