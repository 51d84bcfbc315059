"""scripts/install_chromium.sh is idempotent: with everything installed it changes nothing."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.conftest import ROOT

pytestmark = pytest.mark.e2e


def test_it_does_nothing_when_chromium_and_the_font_are_installed():
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "install_chromium.sh")], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("chromium: already installed (")
