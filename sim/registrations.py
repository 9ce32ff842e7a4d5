"""Registration dates of an open trial, read from CSV, for re-planning (input boundary).

The file (UTF-8, with or without a byte order mark) has a header row with a `date` column (ISO
dates, YYYY-MM-DD) and optionally a `site` column. Every problem is a ScenarioError naming the
file, row, column and value.
"""

import csv
import datetime
from dataclasses import dataclass

from sim import accrual_prediction
from sim.accrual import ObservedThenPredicted
from sim.errors import ScenarioError
from sim.units import DAYS_PER_MONTH


@dataclass(frozen=True)
class Registrations:
    dates: tuple[datetime.date, ...]
    sites: tuple[str, ...] | None  # None: the file has no site column


def parse_date(text: str, where: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text.strip())
    except ValueError:
        raise ScenarioError(f"{where}: {text!r} is not a date: expected YYYY-MM-DD") from None


def load_registrations(path: str) -> Registrations:
    try:
        # utf-8-sig: spreadsheet programs (Excel's "CSV UTF-8") start the file with a byte order
        # mark, which would otherwise stick to the first column's name ("\ufeffdate").
        with open(path, newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            rows = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ScenarioError(f"{path}: cannot read the registrations file: {error}") from None
    if len(set(header)) != len(header):
        raise ScenarioError(f"{path}: the header names a column twice: {', '.join(header)}")
    columns = set(header)
    if not rows or "date" not in columns:
        raise ScenarioError(
            f"{path}: expected a header row with a 'date' column (and optionally 'site'), "
            f"then one row per registration"
        )
    dates, sites = [], []
    for number, row in enumerate(rows, start=2):
        dates.append(parse_date(row["date"] or "", f"{path}: row {number}, column date"))
        if "site" in columns:
            site = (row["site"] or "").strip()
            if not site:
                raise ScenarioError(f"{path}: row {number}, column site: empty")
            sites.append(site)
    return Registrations(tuple(dates), tuple(sites) if "site" in columns else None)


def predict(
    path: str,
    target: int,
    opened: datetime.date,
    as_of: datetime.date | None,
    deadline: datetime.date | None,
    site_opened: dict[str, datetime.date],
    level: float,
) -> accrual_prediction.TargetPrediction:
    """Predict when `target` registrations will be reached, from the file's registrations.

    Pooled (one rate, Jeffreys' prior) unless every centre's opening date is given and the file
    names the centre of each registration: then per centre with an empirical-Bayes prior.
    """
    registrations = load_registrations(path)
    as_of = as_of or max(registrations.dates)
    if min(registrations.dates) < opened:
        raise ScenarioError(f"{path}: a registration on {min(registrations.dates)} before "
                            f"--opened {opened}")
    if max(registrations.dates) > as_of:
        raise ScenarioError(f"{path}: a registration on {max(registrations.dates)} after "
                            f"--as-of {as_of}")
    for option, date in (("--as-of", as_of), ("--deadline", deadline), *(
        (f"--site-opened {site}", day) for site, day in site_opened.items()
    )):
        if date is not None and date < opened:
            raise ScenarioError(f"{option} {date}: before --opened {opened}")
    if as_of == opened:
        raise ScenarioError(f"--as-of {as_of}: the trial opened that day; nothing to learn from")
    if target <= len(registrations.dates):
        raise ScenarioError(f"--target {target}: already reached ({len(registrations.dates)} "
                            f"registered in {path})")

    def day(date: datetime.date) -> float:
        return float((date - opened).days)

    days = [day(date) for date in registrations.dates]
    try:
        if site_opened:
            if registrations.sites is None:
                raise ScenarioError(f"--site-opened: {path} has no 'site' column")
            missing = sorted(set(registrations.sites) - set(site_opened))
            if missing:
                raise ScenarioError(f"--site-opened: no opening date for site(s) "
                                    f"{', '.join(missing)} named in {path}")
            activation = {site: day(date) for site, date in site_opened.items()}
            posterior = accrual_prediction.site_posteriors(
                days, registrations.sites, activation, day(as_of)
            )
        else:
            posterior = accrual_prediction.pooled_posterior(days, day(as_of))
        return accrual_prediction.predict_target(
            posterior, target, level, None if deadline is None else day(deadline)
        )
    except ValueError as error:  # a condition the data cannot meet, e.g. too few centres
        raise ScenarioError(f"{path}: {error}") from None


def observed_accrual(
    path: str, opened: datetime.date, as_of: datetime.date | None, deadline_day: float
) -> tuple[ObservedThenPredicted, Registrations, datetime.date]:
    """The file's registrations as days from `opened`, then the pooled posterior predictive."""
    registrations = load_registrations(path)
    as_of = as_of or max(registrations.dates)
    if min(registrations.dates) < opened or max(registrations.dates) > as_of:
        raise ScenarioError(
            f"{path}: registrations run from {min(registrations.dates)} to "
            f"{max(registrations.dates)}: expected them between --opened {opened} and "
            f"--as-of {as_of}"
        )
    days = tuple(float((date - opened).days) for date in sorted(registrations.dates))
    as_of_day = float((as_of - opened).days)
    if as_of_day <= 0:
        raise ScenarioError(f"--as-of {as_of}: expected a day after --opened {opened}")
    if days[-1] > deadline_day:
        raise ScenarioError(
            f"{path}: a registration on {max(registrations.dates)}, after the scenario's accrual "
            f"deadline (accrual.max_months from --opened {opened})"
        )
    if as_of_day > deadline_day:
        raise ScenarioError(
            f"--as-of {as_of}: after the scenario's accrual deadline, "
            f"{date_after(opened, deadline_day)} (accrual.max_months from --opened {opened}); "
            "the trial is closed then"
        )
    posterior = accrual_prediction.pooled_posterior(days, as_of_day).sites[0].posterior
    model = ObservedThenPredicted(days, as_of_day, posterior.shape, posterior.rate_months)
    return model, registrations, as_of


def date_after(opened: datetime.date, days: float) -> datetime.date:
    try:
        return opened + datetime.timedelta(days=round(days))
    except (OverflowError, ValueError):
        raise ScenarioError(
            f"the prediction falls beyond the year 9999 ({days:.3g} days after {opened}): "
            f"the target is out of reach at this rate"
        ) from None


def months(days: float) -> float:
    return days / DAYS_PER_MONTH
