"""Billing readiness: a project's period in, the invoice draft (or the reasons it is held) out.

Pure arithmetic over what the ledgers hold; no I/O, so every rule here is a worked example in
the tests. The workflow's steps load the inputs (posted time and expenses, milestones, rated
usage, the contract's billing terms, the legal entity's profile) and act on the result.

Money rules, one each:

- **Exact amounts.** ``Decimal`` throughout; a line's amount is rounded once, to the contract
  currency's minor unit, with the legal entity's rule (``half_up`` or ``half_even``, banker's).
- **Per line, then summed.** The subtotal is the sum of the rounded lines and is never
  re-rounded, so the invoice adds up line by line on paper; tax is the subtotal times the
  jurisdiction's configured rate, rounded once with the same rule.
- **Time at the rate in force on each entry's day** (effective-dated rate cards, the newest
  version on overlap): an entry on each side of a rate change lands on two lines. Time lines
  group by role and rate; every line lists the entries (and versions) it bills.
- **Expenses** are billed at cost plus the contract's markup, each expense its own line;
  one in another currency is converted at the period's configured rate, else it is held.
- **Retainer**: the period fee, plus hours above the included hours (and any rolled in)
  at the overage rate; unused hours roll to the next cycle (up to the cap) or are forfeited,
  as the contract says. Where the billing platform's subscription invoices the fee (and rated
  usage) itself, the run bills only the overage and the expenses: never the fee twice.
- **Fixed fee**: each milestone completed (and accepted, where the contract requires it)
  and not yet billed is a line of its amount (on any contract: a change order can add a
  fixed-fee milestone to a time-and-materials one). **Usage**: each rated usage record not yet
  billed is a line of its rated amount.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, TypeVar

from pshub.business_exceptions import OwnerTeam
from pshub.canonical.currencies import minor_unit
from pshub.canonical.model import BillingModel, Contract, ContractStatus, Money, RateCard
from pshub.store.projects import rate_in_force

_ZERO = Decimal(0)


class Rounding(StrEnum):
    HALF_UP = "half_up"
    HALF_EVEN = "half_even"  # banker's


_MODES = {Rounding.HALF_UP: ROUND_HALF_UP, Rounding.HALF_EVEN: ROUND_HALF_EVEN}


def rounded(amount: Decimal, currency: str, rule: Rounding) -> Money:
    """``amount`` in ``currency``'s minor units, rounded once with ``rule``."""
    return Money(amount=amount.quantize(minor_unit(currency), rounding=_MODES[rule]), currency=currency)


class UnusedHours(StrEnum):
    ROLL = "roll"
    FORFEIT = "forfeit"


@dataclass(frozen=True)
class EntityProfile:
    """A legal entity's invoicing rules: its rounding rule and its configured tax rates."""

    legal_entity: str
    rounding: Rounding
    tax_rates: Mapping[str, Decimal]  # jurisdiction ("GB", "US-NY") -> rate (0.20 is 20 %)


@dataclass(frozen=True)
class BillingTerms:
    """The contract's billing terms, as activated (amendments included)."""

    contract_id: str
    billing_model: BillingModel
    currency: str
    status: ContractStatus
    rate_cards: tuple[RateCard, ...] = ()
    expense_markup: Decimal = _ZERO  # 0.10: expenses billed at cost + 10 %
    retainer_fee: Money | None = None
    retainer_hours: Decimal | None = None
    overage_rate: Money | None = None
    unused_hours: UnusedHours = UnusedHours.FORFEIT
    rollover_cap_hours: Decimal | None = None
    milestones_need_acceptance: bool = False
    budget_cap: Money | None = None
    requires_purchase_order: bool = False
    purchase_order: str | None = None

    @classmethod
    def from_contract(
        cls, contract: Contract, rate_cards: Iterable[RateCard] = (), **terms: Any
    ) -> BillingTerms:
        """The terms of a canonical contract. ``rate_cards``: every version in force over its
        life (its own card and those its amendments added; default its own card). The billing
        terms (included retainer hours, overage rate, unused hours, roll-over cap, expense
        markup, acceptance, budget cap, purchase order) are the contract's ``billing_terms``;
        ``terms`` overrides them."""
        cards = tuple(rate_cards) or ((contract.rate_card,) if contract.rate_card else ())
        agreed = contract.billing_terms
        carried: dict[str, Any] = {}
        if agreed is not None:
            carried = {
                "retainer_hours": agreed.retainer_hours,
                "overage_rate": agreed.overage_rate,
                "unused_hours": UnusedHours(agreed.unused_hours),
                "rollover_cap_hours": agreed.rollover_cap_hours,
                "expense_markup": agreed.expense_markup,
                "milestones_need_acceptance": agreed.milestones_need_acceptance,
                "budget_cap": agreed.budget_cap,
                "requires_purchase_order": agreed.requires_purchase_order,
                "purchase_order": agreed.purchase_order,
            }
        return cls(
            contract_id=contract.id,
            billing_model=contract.billing_model,
            currency=contract.currency,
            status=contract.status,
            rate_cards=cards,
            retainer_fee=contract.retainer_per_month,
            **{**carried, **terms},
        )


@dataclass(frozen=True)
class PostedTime:
    entry_id: str
    version: int
    day: date
    role: str | None
    hours: Decimal
    billable: bool = True


@dataclass(frozen=True)
class PostedExpense:
    entry_id: str
    version: int
    day: date
    amount: Money
    category: str | None = None
    billable: bool = True


@dataclass(frozen=True)
class CompletedMilestone:
    milestone_id: str
    name: str
    amount: Money
    completed_on: date | None
    accepted_on: date | None = None


@dataclass(frozen=True)
class RatedUsage:
    usage_id: str
    metric: str
    quantity: Decimal
    rated_amount: Money | None


@dataclass(frozen=True)
class PeriodInputs:
    """Everything the period's invoice depends on, as loaded by the workflow."""

    project_code: str
    period: str  # "2026-11"
    terms: BillingTerms
    profile: EntityProfile
    tax_jurisdiction: str | None
    time: tuple[PostedTime, ...] = ()
    expenses: tuple[PostedExpense, ...] = ()
    milestones: tuple[CompletedMilestone, ...] = ()
    usage: tuple[RatedUsage, ...] = ()
    already_billed: frozenset[str] = frozenset()  # entry, milestone and usage ids billed before
    rolled_in_hours: Decimal = _ZERO  # unused retainer hours rolled into this cycle
    fx_rates: Mapping[str, Decimal] = field(default_factory=dict)  # "EUR/USD" -> USD per EUR
    open_exceptions: tuple[str, ...] = ()  # ids of open business exceptions on the project
    unapproved: int = 0  # time entries and expenses in the period not approved yet
    billed_to_date: Money | None = None  # before tax, for the budget cap
    # The billing platform's own plan (the subscription provisioning set up) invoices the
    # retainer fee and the rated usage: the run bills only the overage and the expenses.
    plan_bills_fee: bool = False


@dataclass(frozen=True)
class Line:
    description: str
    quantity: Decimal
    unit_price: Money
    amount: Money
    kind: str  # "time" | "expense" | "milestone" | "retainer" | "overage" | "usage"
    sources: tuple[str, ...]  # what it bills: "entry@version", milestone or usage ids


@dataclass(frozen=True)
class Hold:
    reason: str  # a stable code: open_exceptions, unapproved, ...
    message: str
    owner: OwnerTeam


@dataclass(frozen=True)
class Draft:
    project_code: str
    period: str
    currency: str
    lines: tuple[Line, ...]
    subtotal: Money
    tax: Money
    total: Money
    tax_rate: Decimal | None
    holds: tuple[Hold, ...]
    rolled_out_hours: Decimal = _ZERO  # retainer: unused hours carried to the next cycle
    forfeited_hours: Decimal = _ZERO

    @property
    def held(self) -> bool:
        return bool(self.holds)

    @property
    def billed_sources(self) -> tuple[str, ...]:
        return tuple(s for line in self.lines for s in line.sources)


def assess(inputs: PeriodInputs) -> Draft:
    """The period's invoice draft and every reason it may not be issued."""
    terms, rule, currency = inputs.terms, inputs.profile.rounding, inputs.terms.currency
    holds: list[Hold] = []
    lines: list[Line] = []
    rolled_out = forfeited = _ZERO
    model = terms.billing_model
    if model is BillingModel.TIME_AND_MATERIALS:
        lines += _time_lines(inputs, holds)
    elif model is BillingModel.RETAINER:
        retainer, rolled_out, forfeited = _retainer_lines(inputs, holds)
        lines += retainer
    elif model is BillingModel.USAGE:
        lines += _usage_lines(inputs, holds)
    # Fixed fee bills its milestones; any other contract bills the fixed-fee milestones a change
    # order added to it (a milestone's amount is a contract term), never silently dropping one.
    lines += _milestone_lines(inputs, holds)
    lines += _expense_lines(inputs, holds)
    subtotal = Money(amount=sum((line.amount.amount for line in lines), _ZERO), currency=currency)
    tax_rate = _tax_rate(inputs, holds)
    tax = rounded(subtotal.amount * (tax_rate or _ZERO), currency, rule)
    holds += _holds(inputs, subtotal)
    return Draft(
        project_code=inputs.project_code,
        period=inputs.period,
        currency=currency,
        lines=tuple(lines),
        subtotal=subtotal,
        tax=tax,
        total=subtotal + tax,
        tax_rate=tax_rate,
        holds=tuple(holds),
        rolled_out_hours=rolled_out,
        forfeited_hours=forfeited,
    )


_T = TypeVar("_T", PostedTime, PostedExpense, CompletedMilestone, RatedUsage)


def _unbilled(inputs: PeriodInputs, items: Iterable[_T]) -> list[_T]:
    return [i for i in items if _id(i) not in inputs.already_billed]


def _id(item: object) -> str:
    for name in ("entry_id", "milestone_id", "usage_id"):
        if hasattr(item, name):
            return str(getattr(item, name))
    raise TypeError(f"{type(item).__name__} has no id")


def _time_lines(inputs: PeriodInputs, holds: list[Hold]) -> list[Line]:
    terms, rule = inputs.terms, inputs.profile.rounding
    groups: dict[tuple[str, Money], list[PostedTime]] = {}
    for entry in _unbilled(inputs, inputs.time):
        if not entry.billable:
            continue
        priced = rate_in_force(list(terms.rate_cards), entry.role, entry.day)
        if priced is None:
            holds.append(
                Hold(
                    "no_rate",
                    f"no rate for {entry.role or '(no role)'} on {entry.day} (entry {entry.entry_id})",
                    OwnerTeam.PMO,
                )
            )
            continue
        _card, rate = priced
        if rate.hourly_rate.currency != terms.currency:
            holds.append(
                Hold(
                    "rate_currency",
                    f"the rate for {rate.role} is in {rate.hourly_rate.currency}, the contract in {terms.currency}",
                    OwnerTeam.FINANCE_OPS,
                )
            )
            continue
        groups.setdefault((rate.role, rate.hourly_rate), []).append(entry)
    lines = []
    for (role, price), entries in sorted(groups.items(), key=lambda g: (g[0][0], g[1][0].day)):
        hours = sum((e.hours for e in entries), _ZERO)
        first, last = min(e.day for e in entries), max(e.day for e in entries)
        lines.append(
            Line(
                description=f"{role}: {_hours(hours)} h at {price.amount} {price.currency} ({first} to {last})",
                quantity=hours,
                unit_price=price,
                amount=rounded(hours * price.amount, price.currency, rule),
                kind="time",
                sources=tuple(
                    f"{e.entry_id}@{e.version}" for e in sorted(entries, key=lambda e: (e.day, e.entry_id))
                ),
            )
        )
    return lines


def _expense_lines(inputs: PeriodInputs, holds: list[Hold]) -> list[Line]:
    terms, rule = inputs.terms, inputs.profile.rounding
    lines = []
    for expense in sorted(_unbilled(inputs, inputs.expenses), key=lambda e: (e.day, e.entry_id)):
        if not expense.billable:
            continue
        cost = expense.amount.amount
        if expense.amount.currency != terms.currency:
            pair = f"{expense.amount.currency}/{terms.currency}"
            fx = inputs.fx_rates.get(pair)
            if fx is None:
                holds.append(
                    Hold(
                        "no_fx_rate",
                        f"expense {expense.entry_id} is in {expense.amount.currency}: no {pair} rate is "
                        f"configured for {inputs.period}",
                        OwnerTeam.FINANCE_OPS,
                    )
                )
                continue
            cost = cost * fx
        billed = cost * (1 + terms.expense_markup)
        amount = rounded(billed, terms.currency, rule)
        what = expense.category or "expense"
        lines.append(
            Line(
                description=f"Expense {expense.day}: {what}"
                + (f" (cost + {_percent(terms.expense_markup)} %)" if terms.expense_markup else ""),
                quantity=Decimal(1),
                unit_price=amount,
                amount=amount,
                kind="expense",
                sources=(f"{expense.entry_id}@{expense.version}",),
            )
        )
    return lines


def _retainer_lines(inputs: PeriodInputs, holds: list[Hold]) -> tuple[list[Line], Decimal, Decimal]:
    terms, rule = inputs.terms, inputs.profile.rounding
    if terms.retainer_fee is None or terms.retainer_hours is None:
        holds.append(
            Hold("terms_incomplete", "the retainer has no fee or included hours", OwnerTeam.FINANCE_OPS)
        )
        return [], _ZERO, _ZERO
    cycle = f"retainer:{terms.contract_id}:{inputs.period}"
    if cycle in inputs.already_billed:
        return [], _ZERO, _ZERO  # this cycle's invoice exists: its fee and hours are billed
    entries = [e for e in _unbilled(inputs, inputs.time) if e.billable]
    used = sum((e.hours for e in entries), _ZERO)
    allowance = terms.retainer_hours + inputs.rolled_in_hours
    over = used - allowance
    worked = tuple(f"{e.entry_id}@{e.version}" for e in sorted(entries, key=lambda e: (e.day, e.entry_id)))
    lines = (
        []
        if inputs.plan_bills_fee
        else [
            Line(
                description=f"Retainer {inputs.period}: {_hours(terms.retainer_hours)} h included"
                + (f", {_hours(inputs.rolled_in_hours)} h rolled in" if inputs.rolled_in_hours else ""),
                quantity=Decimal(1),
                unit_price=terms.retainer_fee,
                amount=terms.retainer_fee,
                kind="retainer",
                # The hours it covers are billed by it, or by the overage line when they exceed it.
                sources=(cycle,) + (() if over > 0 else worked),
            )
        ]
    )
    if over > 0:
        if terms.overage_rate is None:
            holds.append(
                Hold(
                    "terms_incomplete",
                    f"{_hours(over)} h above the retainer and no overage rate",
                    OwnerTeam.FINANCE_OPS,
                )
            )
        else:
            lines.append(
                Line(
                    description=f"Hours above the retainer: {_hours(over)} h at {terms.overage_rate.amount} "
                    f"{terms.overage_rate.currency}",
                    quantity=over,
                    unit_price=terms.overage_rate,
                    amount=rounded(over * terms.overage_rate.amount, terms.currency, rule),
                    kind="overage",
                    sources=((cycle,) if inputs.plan_bills_fee else ()) + worked,
                )
            )
        return lines, _ZERO, _ZERO
    unused = allowance - used
    if terms.unused_hours is UnusedHours.ROLL:
        cap = terms.rollover_cap_hours
        rolled = unused if cap is None else min(unused, cap)
        return lines, rolled, unused - rolled
    return lines, _ZERO, unused


def _milestone_lines(inputs: PeriodInputs, holds: list[Hold]) -> list[Line]:
    terms = inputs.terms
    lines = []
    for milestone in _unbilled(inputs, inputs.milestones):
        if milestone.completed_on is None:
            continue
        if terms.milestones_need_acceptance and milestone.accepted_on is None:
            holds.append(
                Hold(
                    "milestone_not_accepted",
                    f"milestone {milestone.name!r} is complete but the client has not accepted it",
                    OwnerTeam.PMO,
                )
            )
            continue
        if milestone.amount.currency != terms.currency:
            holds.append(
                Hold(
                    "milestone_currency",
                    f"milestone {milestone.name!r} is in {milestone.amount.currency}, the contract in {terms.currency}",
                    OwnerTeam.FINANCE_OPS,
                )
            )
            continue
        lines.append(
            Line(
                description=f"Milestone: {milestone.name} (completed {milestone.completed_on})",
                quantity=Decimal(1),
                unit_price=milestone.amount,
                amount=milestone.amount,
                kind="milestone",
                sources=(milestone.milestone_id,),
            )
        )
    return lines


def _usage_lines(inputs: PeriodInputs, holds: list[Hold]) -> list[Line]:
    lines: list[Line] = []
    if inputs.plan_bills_fee:
        return lines  # the platform's subscription rates and invoices it
    for usage in _unbilled(inputs, inputs.usage):
        if usage.rated_amount is None:
            holds.append(
                Hold(
                    "usage_not_rated",
                    f"usage {usage.usage_id} ({usage.metric}) is not rated yet",
                    OwnerTeam.FINANCE_OPS,
                )
            )
            continue
        if usage.rated_amount.currency != inputs.terms.currency:
            holds.append(
                Hold(
                    "usage_currency",
                    f"usage {usage.usage_id} is rated in {usage.rated_amount.currency}, the contract in "
                    f"{inputs.terms.currency}",
                    OwnerTeam.FINANCE_OPS,
                )
            )
            continue
        lines.append(
            Line(
                description=f"Usage: {usage.quantity.normalize():f} {usage.metric}",
                quantity=usage.quantity,
                unit_price=usage.rated_amount,
                amount=usage.rated_amount,
                kind="usage",
                sources=(usage.usage_id,),
            )
        )
    return lines


def _tax_rate(inputs: PeriodInputs, holds: list[Hold]) -> Decimal | None:
    jurisdiction = inputs.tax_jurisdiction
    if not jurisdiction:
        holds.append(Hold("no_tax_profile", "the client has no tax jurisdiction", OwnerTeam.FINANCE_OPS))
        return None
    rate = inputs.profile.tax_rates.get(jurisdiction)
    if rate is None:
        holds.append(
            Hold(
                "no_tax_profile",
                f"legal entity {inputs.profile.legal_entity} has no tax rate configured for {jurisdiction}",
                OwnerTeam.FINANCE_OPS,
            )
        )
    return rate


def _holds(inputs: PeriodInputs, subtotal: Money) -> list[Hold]:
    terms = inputs.terms
    holds = []
    if inputs.open_exceptions:
        holds.append(
            Hold(
                "open_exceptions",
                f"{len(inputs.open_exceptions)} open exception(s) on the project: {', '.join(inputs.open_exceptions[:5])}",
                OwnerTeam.FINANCE_OPS,
            )
        )
    if inputs.unapproved:
        holds.append(
            Hold(
                "unapproved",
                f"{inputs.unapproved} time entr(ies) or expense(s) in {inputs.period} are not approved yet",
                OwnerTeam.PMO,
            )
        )
    if terms.requires_purchase_order and not terms.purchase_order:
        holds.append(
            Hold(
                "no_purchase_order",
                "the contract requires a purchase order and has none",
                OwnerTeam.FINANCE_OPS,
            )
        )
    if terms.status is not ContractStatus.ACTIVE:
        holds.append(
            Hold(
                "contract_not_active",
                f"the contract is {terms.status.value}, not active",
                OwnerTeam.SALES_OPS,
            )
        )
    if terms.budget_cap is not None:
        before = inputs.billed_to_date.amount if inputs.billed_to_date else _ZERO
        if before + subtotal.amount > terms.budget_cap.amount:
            holds.append(
                Hold(
                    "budget_cap",
                    f"this invoice ({subtotal.amount} {subtotal.currency}) would take billing to "
                    f"{before + subtotal.amount}, above the cap of {terms.budget_cap.amount}",
                    OwnerTeam.PMO,
                )
            )
    return holds


def _hours(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _percent(share: Decimal) -> str:
    return f"{(share * 100).normalize():f}"
