"""The typed reader of the environment that ``smsmarketing/settings.py`` reads every variable with.

django-environ does the parsing; this subclass makes a value it cannot read stop start-up with
the variable's name, the value and what was expected, instead of a bare ``ValueError`` deep in a
traceback or, for booleans, a silent ``False``. Ranges are checked with :meth:`Env.bounded`.
"""

from __future__ import annotations

from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

BOOLEAN_FALSE_STRINGS = ("false", "off", "no", "n", "0", "")


class Env(environ.Env):
    def __init__(self, **scheme: Any) -> None:
        super().__init__(**scheme)
        # django-environ reads "$NAME" as a reference to another variable; "\$" is a literal dollar.
        self.escape_proxy = True

    def get_value(
        self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET, parse_default: bool = False
    ) -> Any:
        raw = self.ENVIRON.get(f"{self.prefix}{var}")
        if cast is bool and raw is not None:
            word = raw.strip().lower()
            if word not in self.BOOLEAN_TRUE_STRINGS and word not in BOOLEAN_FALSE_STRINGS:
                raise ImproperlyConfigured(
                    f"{var}={raw!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off."
                )
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ValueError as exc:
            expected = getattr(cast, "__name__", str(cast))
            raise ImproperlyConfigured(f"{var}={raw!r} is not a valid {expected}: {exc}.") from exc

    def list(self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET) -> list[Any]:
        """A comma-separated list with the spaces around each item removed and empty items dropped."""
        items = super().list(var, cast=cast, default=default)
        return [item.strip() if isinstance(item, str) else item for item in items if str(item).strip()]

    def bounded(self, var: str, default: int | float, *, minimum: float, maximum: float | None = None) -> Any:
        """An int (or a float when ``default`` is one) within [minimum, maximum]."""
        value = (
            self.float(var, default=default) if isinstance(default, float) else self.int(var, default=default)
        )
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and at most {maximum}" if maximum is not None else ""
            raise ImproperlyConfigured(
                f"{var}={value!r} is out of range: it must be at least {minimum}{upper}."
            )
        return value

    def choice(self, var: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.str(var, default=default).strip().lower()
        if value not in choices:
            raise ImproperlyConfigured(f"{var}={value!r} is not one of: {', '.join(choices)}.")
        return value
