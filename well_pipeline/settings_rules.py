"""The settings' error type and the one rule several layers enforce, importable without loading the settings.

Why apart from `settings.py`: services take plain values and must not import the settings (layer rule), yet the
delivery use case re-checks the Melio inbox address itself, whoever calls it, with the same rule, the same wording
and the same `SettingsError` the settings raise. `well_pipeline.settings` re-exports these names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

ENV_PREFIX = "WELL_"

# One problem: the setting(s) it is about and what is wrong, without where the values came from.
Problem = tuple[tuple[str, ...], str]


def where_to_set(name: str) -> str:
    """How a setting is set when nothing better is known: its variable (the file key is its name)."""
    return f"${ENV_PREFIX}{name.upper()}"


def render_problem(problem: Problem, origins: Mapping[str, str] | None = None) -> str:
    """`setting NAME (ORIGIN): what is wrong`, ORIGIN being `$WELL_NAME` or `file PATH`."""
    names, text = problem
    located = ", ".join(f"{name} ({(origins or {}).get(name) or where_to_set(name)})" for name in names)
    return f"{'setting' if len(names) == 1 else 'settings'} {located}: {text}"


class SettingsError(ValueError):
    """A setting has a value Well cannot use; the message names the setting and where it came from.

    `problems` keeps each problem apart from its rendering, so the settings loader can say where each value came
    from (`located`) once it knows, while code that only has a value (a resource, a use case) names the variable.
    """

    def __init__(self, message: str, *, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[Problem, ...] = tuple(problems)

    @classmethod
    def about(cls, problems: Sequence[Problem], origins: Mapping[str, str] | None = None) -> SettingsError:
        return cls("\n".join(render_problem(p, origins) for p in problems), problems=problems)

    def located(self, origins: Mapping[str, str]) -> SettingsError:
        """The same problems, each naming where its setting's value came from."""
        return self.about(self.problems, origins) if self.problems else self


def check_melio_inbox(address: str, *, allow_any_domain: bool) -> list[str]:
    """The Melio inbox rule with messages naming the settings; returns warnings, raises SettingsError.

    One helper for every place that reads the address (settings, the delivery resource, the delivery use case),
    so the rule and its wording cannot drift: exactly `@invoicesmelio.com`, because the user's relay accepts a
    mistyped domain and the bills would silently vanish.
    """
    # Imported here so settings stays light and importable from any adapter without an import cycle.
    from well_pipeline.adapters.melio.bill_email import MELIO_INBOX_DOMAIN, validate_melio_address

    try:
        warnings = validate_melio_address(address, allow_any_domain=allow_any_domain)
    except ValueError as exc:
        raise SettingsError.about([(("melio_inbox_address",), str(exc))]) from None
    if address.rpartition("@")[2].lower() != MELIO_INBOX_DOMAIN:  # only reached with allow_any_domain
        switch = "melio_inbox_allow_any_domain"
        warnings = [f"{switch} ({where_to_set(switch)}) is on: {w}" for w in warnings]
    return warnings
