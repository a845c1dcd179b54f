"""The ownership policy: the default file encodes PRODUCT.md's system-of-record table for every
attribute of every canonical object (a ledger here records each decision), worked examples per
object, and a broken policy is refused with the line of the offending entry."""

from __future__ import annotations

import pytest

from pshub.canonical.model import (
    ACTIVE_WHEN,
    OBJECT_TYPES,
    Contract,
    RateCard,
    TimeEntry,
    lifecycle_active,
)
from pshub.sync.ownership import (
    BOOKKEEPING,
    DEFAULT_POLICY_PATH,
    POLICY_ENV_VAR,
    OwnershipPolicy,
    PolicyError,
    load_default_policy,
    load_policy,
)


@pytest.fixture(scope="module")
def policy() -> OwnershipPolicy:
    return load_policy(DEFAULT_POLICY_PATH.read_text(encoding="utf-8"), source="ownership.toml")


# --- the default policy -----------------------------------------------------------------


def test_default_policy_loads_from_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given no policy in the environment (as when running from the repo)
    monkeypatch.delenv(POLICY_ENV_VAR, raising=False)
    # When the default policy is loaded
    loaded = load_default_policy()
    # Then it is version 1 and has rules
    assert loaded.version == 1
    assert loaded.rules


def test_every_business_attribute_of_every_object_has_an_owner(policy: OwnershipPolicy) -> None:
    # Given every canonical object type and its business attributes
    unowned = [
        f"{name}.{field}"
        for name, (_version, model) in OBJECT_TYPES.items()
        for field in model.model_fields
        if field not in BOOKKEEPING
        # When the owners are asked, before and after activation
        for active in (False, True)
        if not policy.owners(name, field, active=active)
    ]
    # Then none is left without a system of record
    assert unowned == []


# Every business attribute of every object and its owner, as decided in ownership.toml:
# "crm" one owner, "psa|time" any of them, "crm>erp" the CRM until the object is active
# (``owner_once_active``), the ERP after. An attribute added to a model fails the test below
# until its owner is decided here and, if the ["*"] rule does not already say it, there.
OWNERS: dict[str, dict[str, str]] = {
    "Client": {
        # account origination, segmentation, contacts
        "name": "crm",
        "web_domain": "crm",
        "email_domains": "crm",
        "segment": "crm",
        "industry": "crm",
        "status": "crm",
        # legal customer, tax profile, receivables
        "legal_name": "erp",
        "parent_client_id": "erp",
        "billing_address": "erp",
        "tax_profile": "erp",
        "tax_ids": "erp",
        "registration_ids": "erp",
        "currency": "erp",
        "legal_entity": "erp",
        "payment_terms_days": "erp",
        "credit_limit": "erp",
        "credit_hold": "erp",
    },
    "Opportunity": dict.fromkeys(
        [
            "name",
            "client_id",
            "stage",
            "amount",
            "currency",
            "probability",
            "forecast_category",
            "close_date",
            "owner",
            "service_line",
            "contract_id",
        ],
        "crm",
    ),
    "Contract": {
        **dict.fromkeys(
            [
                "client_id",
                "opportunity_id",
                "billing_model",
                "currency",
                "start_date",
                "end_date",
                "payment_terms_days",
                "legal_entity",
                "tax_jurisdiction",
                "rate_card",
                "total_value",
                "retainer_per_month",
                "milestones",
                "billing_terms",
            ],
            "crm>erp",
        ),
        # the activation switch and amendments: the CRM's, before and after activation
        "status": "crm",
        "activated_at": "crm",
        "amendments": "crm",
    },
    "RateCard": {
        **dict.fromkeys(
            ["name", "contract_id", "version", "currency", "effective_from", "effective_to", "rates"],
            "crm>erp",
        ),
        "status": "crm",
    },
    "Project": {
        **dict.fromkeys(
            ["code", "client_id", "contract_id", "legal_entity", "service_line", "budget", "dimensions"],
            "erp",
        ),
        **dict.fromkeys(["name", "status", "start_date", "end_date"], "psa"),
    },
    "Milestone": {
        **dict.fromkeys(["project_id", "name", "due_date", "status", "completed_on", "accepted_on"], "psa"),
        "amount": "crm>erp",
        "billing_status": "billing|erp",
    },
    "Worker": {
        **dict.fromkeys(
            ["name", "email", "employment_status", "hire_date", "termination_date", "home_entity", "role"],
            "hr",
        ),
        "cost_rate": "erp",
    },
    "Assignment": dict.fromkeys(
        [
            "project_id",
            "worker_id",
            "role",
            "status",
            "start_date",
            "end_date",
            "allocation_percent",
            "planned_hours",
            "bill_rate",
        ],
        "psa",
    ),
    "TimeEntry": {
        **dict.fromkeys(
            [
                "project_id",
                "worker_id",
                "work_date",
                "hours",
                "billable",
                "role",
                "status",
                "approved_at",
                "version",
                "notes",
            ],
            "psa|time>erp",
        ),
        "posting_status": "erp",
        "erp_document_ref": "erp",
    },
    "Expense": {
        **dict.fromkeys(
            [
                "project_id",
                "worker_id",
                "incurred_on",
                "amount",
                "category",
                "billable",
                "status",
                "approved_at",
                "version",
                "receipt_ref",
            ],
            "expense|psa>erp",
        ),
        "posting_status": "erp",
        "erp_document_ref": "erp",
    },
    "Invoice": dict.fromkeys(
        [
            "number",
            "client_id",
            "project_id",
            "contract_id",
            "subscription_id",
            "legal_entity",
            "issue_date",
            "due_date",
            "status",
            "lines",
            "tax",
            "total",
            "balance",
            "paid_at",
        ],
        "billing|erp",
    ),
    "Payment": dict.fromkeys(["invoice_id", "amount", "received_at", "method", "reference"], "billing|erp"),
    "ChangeOrder": dict.fromkeys(
        [
            "contract_id",
            "project_id",
            "number",
            "description",
            "value_change",
            "budget_hours_change",
            "status",
            "effective_date",
        ],
        "crm",
    ),
    "Subscription": dict.fromkeys(
        [
            "client_id",
            "contract_id",
            "project_id",
            "plan_id",
            "status",
            "quantity",
            "currency",
            "current_period_start",
            "current_period_end",
            "cancelled_at",
        ],
        "billing",
    ),
    "UsageRecord": dict.fromkeys(
        [
            "subscription_id",
            "project_id",
            "metric",
            "quantity",
            "recorded_at",
            "period_start",
            "period_end",
            "rated_amount",
        ],
        "billing",
    ),
}


def _spelled(policy: OwnershipPolicy, object_type: str, attribute: str) -> str:
    before = "|".join(sorted(policy.owners(object_type, attribute)))
    after = "|".join(sorted(policy.owners(object_type, attribute, active=True)))
    return before if before == after else f"{before}>{after}"


def test_every_attribute_has_a_decided_owner(policy: OwnershipPolicy) -> None:
    # Given every business attribute of every canonical object
    attributes = {
        (name, field) for name, (_v, model) in OBJECT_TYPES.items() for field in model.model_fields
    } - {(name, field) for name in OBJECT_TYPES for field in BOOKKEEPING}
    ledger = {(name, field) for name, fields in OWNERS.items() for field in fields}
    # Then each has a recorded decision (a new attribute needs one), and nothing stale is recorded
    assert sorted(attributes - ledger) == [], "decide the owner in ownership.toml and record it in OWNERS"
    assert sorted(ledger - attributes) == []
    # And the policy gives each the owner recorded, before and after activation
    wrong = {
        f"{name}.{field}": _spelled(policy, name, field)
        for name, fields in OWNERS.items()
        for field, expected in fields.items()
        if _spelled(policy, name, field) != expected
    }
    assert wrong == {}


def test_every_owner_change_has_a_lifecycle_switch(policy: OwnershipPolicy) -> None:
    # Given the objects whose owner changes once active
    switching = {rule.object_type for rule in policy.rules if rule.owner_once_active is not None}
    # Then the model says when each is active (ACTIVE_WHEN), or it follows its contract
    follows_its_contract = {"Milestone"}
    assert switching - follows_its_contract == set(ACTIVE_WHEN)


PRODUCT_TABLE = [
    # account origination, segmentation, opportunity: CRM
    ("Client", "name", False, {"crm"}),
    ("Client", "segment", False, {"crm"}),
    ("Opportunity", "stage", False, {"crm"}),
    ("Opportunity", "amount", True, {"crm"}),
    # legal customer, tax profile, receivables, GL dimensions, invoices: ERP
    ("Client", "tax_profile", False, {"erp"}),
    ("Client", "legal_name", False, {"erp"}),
    ("Project", "dimensions", False, {"erp"}),
    ("Project", "code", False, {"erp"}),
    ("Invoice", "total", False, {"erp", "billing"}),
    # contract terms, rate cards, billing rules: CRM/CPQ at origination, ERP once activated
    ("RateCard", "rates", False, {"crm"}),
    ("RateCard", "rates", True, {"erp"}),
    ("Contract", "billing_model", False, {"crm"}),
    ("Contract", "billing_model", True, {"erp"}),
    ("Contract", "status", True, {"crm"}),
    ("Milestone", "amount", True, {"erp"}),
    # project plan, milestones, assignments, delivery status: PSA
    ("Project", "status", False, {"psa"}),
    ("Milestone", "status", False, {"psa"}),
    ("Assignment", "planned_hours", True, {"psa"}),
    # approved time and expenses: PSA / time / expense SaaS
    ("TimeEntry", "hours", False, {"psa", "time"}),
    ("Expense", "amount", False, {"psa", "expense"}),
    # worker identity, employment status: HR
    ("Worker", "employment_status", False, {"hr"}),
    ("Worker", "name", False, {"hr"}),
    ("Worker", "cost_rate", False, {"erp"}),
    ("Worker", "termination_date", False, {"hr"}),
    # card payments in the billing platform, bank transfers in the ERP
    ("Payment", "amount", False, {"billing", "erp"}),
    # recurring charges, usage rating: billing platform
    ("Subscription", "status", False, {"billing"}),
    ("UsageRecord", "rated_amount", False, {"billing"}),
    # receivables and credit: ERP
    ("Client", "credit_hold", False, {"erp"}),
    ("Client", "credit_limit", False, {"erp"}),
    # approved time and expenses until posted; the posting status is the ERP's
    ("TimeEntry", "hours", True, {"erp"}),
    ("TimeEntry", "posting_status", False, {"erp"}),
]


@pytest.mark.parametrize(
    ("object_type", "attribute", "active", "expected"),
    PRODUCT_TABLE,
    ids=[f"{o}.{a}{'-active' if act else ''}" for o, a, act, _ in PRODUCT_TABLE],
)
def test_default_policy_follows_the_product_table(
    policy: OwnershipPolicy, object_type: str, attribute: str, active: bool, expected: set[str]
) -> None:
    # Given the default policy / When the owners of an attribute are asked
    owners = policy.owners(object_type, attribute, active=active)
    # Then they are the roles of PRODUCT.md's row
    assert owners == expected


def test_split_separates_owned_changes_from_ownership_conflicts(policy: OwnershipPolicy) -> None:
    # Given a CRM update touching CRM-owned, ERP-owned and bookkeeping attributes of a Client
    changed = ["name", "segment", "tax_profile", "billing_address", "external_ids", "source_version"]
    # When it is split
    owned, conflicts = policy.split("Client", "crm", changed)
    # Then the CRM's attributes propagate, the ERP's are conflicts, bookkeeping is in neither
    assert owned == {"name", "segment"}
    assert conflicts == {"tax_profile", "billing_address"}


def test_split_follows_the_lifecycle(policy: OwnershipPolicy) -> None:
    # Given an ERP change to a rate card
    changed = ["rates", "effective_to"]
    # When split before and after activation
    before = policy.split("RateCard", "erp", changed)
    after = policy.split("RateCard", "erp", changed, active=True)
    # Then the ERP is in conflict at origination and the owner once active
    assert before == (set(), {"rates", "effective_to"})
    assert after == ({"rates", "effective_to"}, set())


def test_split_accepts_any_co_owner(policy: OwnershipPolicy) -> None:
    # Given time entries captured in a time-tracking SaaS or in the PSA
    # When each splits an hours change / Then both own it; the ERP does not
    assert policy.split("TimeEntry", "time", ["hours"]) == ({"hours"}, set())
    assert policy.split("TimeEntry", "psa", ["hours"]) == ({"hours"}, set())
    assert policy.split("TimeEntry", "erp", ["hours"]) == (set(), {"hours"})


# Worked examples, per object: (object, sending role, attributes changed, active?, what propagates,
# what is an ownership conflict).
WORKED = [
    # Client: the CRM segments and classifies; credit, tax ids and the legal group are the ERP's
    ("Client", "crm", ["industry", "email_domains", "status"], False, {"industry", "email_domains", "status"}, set()),
    ("Client", "crm", ["credit_hold", "credit_limit", "tax_ids"], False, set(), {"credit_hold", "credit_limit", "tax_ids"}),
    ("Client", "erp", ["credit_hold", "payment_terms_days", "parent_client_id", "registration_ids"], False,
     {"credit_hold", "payment_terms_days", "parent_client_id", "registration_ids"}, set()),
    ("Client", "erp", ["segment"], False, set(), {"segment"}),
    # Opportunity: the pipeline is the CRM's
    ("Opportunity", "crm", ["probability", "forecast_category", "currency"], False,
     {"probability", "forecast_category", "currency"}, set()),
    ("Opportunity", "erp", ["probability"], False, set(), {"probability"}),
    # Contract: terms pass to the ERP at activation; the switch itself stays with the CRM
    ("Contract", "crm", ["payment_terms_days", "status", "activated_at"], False,
     {"payment_terms_days", "status", "activated_at"}, set()),
    ("Contract", "crm", ["payment_terms_days", "amendments"], True, {"amendments"}, {"payment_terms_days"}),
    ("Contract", "erp", ["payment_terms_days", "status"], True, {"payment_terms_days"}, {"status"}),
    # RateCard: a CRM edit to an active card's rates is a conflict, the ERP's is owned;
    # superseding it (its status) is the CRM's
    ("RateCard", "crm", ["rates", "effective_to"], True, set(), {"rates", "effective_to"}),
    ("RateCard", "erp", ["rates", "effective_to"], True, {"rates", "effective_to"}, set()),
    ("RateCard", "crm", ["status"], True, {"status"}, set()),
    ("RateCard", "crm", ["rates", "version", "contract_id"], False, {"rates", "version", "contract_id"}, set()),
    # Project: the PSA plans and delivers, the ERP holds the financial shell
    ("Project", "psa", ["status", "end_date", "code"], False, {"status", "end_date"}, {"code"}),
    # Milestone: the PSA completes, the client's acceptance is recorded there; invoicing is the ERP's
    ("Milestone", "psa", ["completed_on", "accepted_on", "status"], True,
     {"completed_on", "accepted_on", "status"}, set()),
    ("Milestone", "psa", ["billing_status", "amount"], True, set(), {"billing_status", "amount"}),
    ("Milestone", "billing", ["billing_status"], True, {"billing_status"}, set()),
    ("Milestone", "erp", ["completed_on"], True, set(), {"completed_on"}),
    # Worker: a PSA may not change a worker's termination date; HR may
    ("Worker", "psa", ["termination_date", "employment_status"], False, set(),
     {"termination_date", "employment_status"}),
    ("Worker", "hr", ["termination_date", "hire_date", "employment_status"], False,
     {"termination_date", "hire_date", "employment_status"}, set()),
    ("Worker", "hr", ["cost_rate"], False, set(), {"cost_rate"}),
    # Assignment: staffing is the PSA's
    ("Assignment", "psa", ["allocation_percent", "status"], False, {"allocation_percent", "status"}, set()),
    ("Assignment", "hr", ["allocation_percent"], False, set(), {"allocation_percent"}),
    # TimeEntry: the capture system's until posted; the posting is the ERP's
    ("TimeEntry", "time", ["hours", "approved_at", "version"], False, {"hours", "approved_at", "version"}, set()),
    ("TimeEntry", "time", ["hours"], True, set(), {"hours"}),
    ("TimeEntry", "time", ["posting_status"], False, set(), {"posting_status"}),
    ("TimeEntry", "erp", ["posting_status", "erp_document_ref"], False, {"posting_status", "erp_document_ref"}, set()),
    ("TimeEntry", "erp", ["hours"], False, set(), {"hours"}),
    # Expense: likewise
    ("Expense", "expense", ["amount", "approved_at"], False, {"amount", "approved_at"}, set()),
    ("Expense", "expense", ["amount"], True, set(), {"amount"}),
    ("Expense", "erp", ["posting_status", "erp_document_ref"], True, {"posting_status", "erp_document_ref"}, set()),
    # Invoice and Payment: receivables are the ERP's (or the billing platform's)
    ("Invoice", "erp", ["balance", "paid_at"], False, {"balance", "paid_at"}, set()),
    ("Invoice", "crm", ["balance"], False, set(), {"balance"}),
    ("Payment", "billing", ["received_at", "amount"], False, {"received_at", "amount"}, set()),
    ("Payment", "psa", ["amount"], False, set(), {"amount"}),
    # ChangeOrder: originates in CPQ
    ("ChangeOrder", "crm", ["status", "value_change"], False, {"status", "value_change"}, set()),
    ("ChangeOrder", "psa", ["budget_hours_change"], False, set(), {"budget_hours_change"}),
    # Subscription and UsageRecord: recurring charges and usage rating are the billing platform's
    ("Subscription", "billing", ["status", "quantity", "current_period_end"], False,
     {"status", "quantity", "current_period_end"}, set()),
    ("Subscription", "erp", ["status"], False, set(), {"status"}),
    ("UsageRecord", "billing", ["quantity", "rated_amount"], False, {"quantity", "rated_amount"}, set()),
    ("UsageRecord", "psa", ["quantity"], False, set(), {"quantity"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("object_type", "role", "changed", "active", "owned", "conflicts"),
    WORKED,
    ids=[f"{o}-{r}-{'+'.join(c)}{'-active' if a else ''}" for o, r, c, a, _, _ in WORKED],
)
def test_worked_examples(
    policy: OwnershipPolicy,
    object_type: str,
    role: str,
    changed: list[str],
    active: bool,
    owned: set[str],
    conflicts: set[str],
) -> None:
    # Given a change from a role / When split / Then what it owns propagates, the rest is a conflict
    assert policy.split(object_type, role, changed, active=active) == (owned, conflicts)


def test_every_object_has_worked_examples() -> None:
    assert {example[0] for example in WORKED} == set(OBJECT_TYPES)


def test_the_switch_is_read_off_the_stored_object(policy: OwnershipPolicy) -> None:
    # Given a contract and its rate card as stored once the contract was activated, and a
    # time entry before and after the ERP posted it
    contract = Contract.model_validate(
        {"id": "ct-1", "client_id": "cl-1", "billing_model": "time_and_materials", "currency": "USD",
         "status": "active", "activated_at": "2026-02-16T09:30:00Z"}
    ).model_dump(mode="json")  # fmt: skip
    card = RateCard.model_validate(
        {"id": "rc-1", "name": "Std", "currency": "USD", "effective_from": "2026-01-01", "rates": [],
         "contract_id": "ct-1", "status": "active", "version": 1}
    ).model_dump(mode="json")  # fmt: skip
    entry = {"id": "te-1", "project_id": "pr-1", "worker_id": "wk-1", "work_date": "2026-03-02", "hours": "8"}
    submitted = TimeEntry.model_validate(entry).model_dump(mode="json")
    posted = TimeEntry.model_validate({**entry, "posting_status": "posted"}).model_dump(mode="json")
    reversed_ = TimeEntry.model_validate({**entry, "posting_status": "reversed"}).model_dump(mode="json")

    def split(object_type: str, role: str, state: dict[str, object], changed: list[str]) -> object:
        return policy.split(object_type, role, changed, active=bool(lifecycle_active(object_type, state)))

    # Then the CRM's later edit of the terms is a conflict, and the ERP's is owned
    assert split("Contract", "crm", contract, ["billing_model"]) == (set(), {"billing_model"})
    assert split("RateCard", "crm", card, ["rates"]) == (set(), {"rates"})
    assert split("RateCard", "erp", card, ["rates"]) == ({"rates"}, set())
    # And hours from the time SaaS propagate until posted, conflict after, propagate after a reversal
    assert split("TimeEntry", "time", submitted, ["hours"]) == ({"hours"}, set())
    assert split("TimeEntry", "time", posted, ["hours"]) == (set(), {"hours"})
    assert split("TimeEntry", "time", reversed_, ["hours"]) == ({"hours"}, set())


FLOWS = [
    ("Client", "name", "erp", False, True),
    ("Client", "name", "psa", False, True),
    ("Client", "name", "crm", False, False),  # never back to its sole owner
    ("Client", "name", "hr", False, False),
    ("Client", "tax_profile", "crm", False, True),
    ("RateCard", "rates", "erp", False, True),  # handed to the ERP at activation...
    ("RateCard", "rates", "erp", True, False),  # ...which then owns it
    ("RateCard", "rates", "billing", True, True),
    ("TimeEntry", "hours", "erp", False, True),
    ("TimeEntry", "hours", "psa", False, True),  # time SaaS -> PSA actuals
    ("TimeEntry", "hours", "hr", False, True),  # payroll
    ("Worker", "employment_status", "psa", False, True),
    ("Worker", "employment_status", "billing", False, False),
    ("Project", "status", "erp", False, True),
]


@pytest.mark.parametrize(
    ("object_type", "attribute", "to_role", "active", "expected"),
    FLOWS,
    ids=[f"{o}.{a}->{r}{'-active' if act else ''}" for o, a, r, act, _ in FLOWS],
)
def test_may_flow(
    policy: OwnershipPolicy, object_type: str, attribute: str, to_role: str, active: bool, expected: bool
) -> None:
    # Given the default policy / When asked whether an attribute flows to a role / Then as the table says
    assert policy.may_flow(object_type, attribute, to_role, active=active) is expected


@pytest.mark.parametrize(
    ("object_type", "attribute", "fragment"),
    [
        ("Nope", "name", "unknown canonical object type 'Nope'"),
        ("Client", "nickname", "Client has no attribute 'nickname'"),
        ("Client", "external_ids", "bookkeeping"),
    ],
)
def test_asking_about_an_unknown_attribute_is_an_error(
    policy: OwnershipPolicy, object_type: str, attribute: str, fragment: str
) -> None:
    # Given the default policy / When asked about something that does not exist / Then ValueError
    with pytest.raises(ValueError, match=fragment):
        policy.owners(object_type, attribute)


def test_an_attribute_without_a_rule_is_owned_by_nobody() -> None:
    # Given a policy with one Client rule and no fallback
    partial = load_policy(
        'version = 1\n[[rule]]\nobject = "Client"\nattributes = ["name"]\nowner = "crm"\nflows_to = []\n'
    )
    # When an unruled attribute changes / Then nobody owns it: every change of it is a conflict
    assert partial.owners("Client", "segment") == frozenset()
    assert partial.split("Client", "crm", ["name", "segment"]) == ({"name"}, {"segment"})
    assert partial.may_flow("Client", "segment", "erp") is False


def test_deployed_functions_read_the_policy_from_the_environment() -> None:
    # Given a policy in PSHUB_OWNERSHIP_POLICY
    text = 'version = 1\n[[rule]]\nobject = "Worker"\nattributes = ["*"]\nowner = "erp"\nflows_to = []\n'
    # When the default policy is loaded
    loaded = load_default_policy({POLICY_ENV_VAR: text})
    # Then that one is used, and its errors name the variable
    assert loaded.owners("Worker", "name") == {"erp"}
    with pytest.raises(PolicyError, match=r"^\$PSHUB_OWNERSHIP_POLICY, line 1: "):
        load_default_policy({POLICY_ENV_VAR: "version = 9\n"})


def test_compact_form_fits_an_environment_variable_and_means_the_same(policy: OwnershipPolicy) -> None:
    # Given the default policy / When rendered compactly and reloaded
    compact = policy.to_toml()
    reloaded = load_policy(compact)
    # Then it fits Lambda's 4 KB for all variables with room to spare, and every answer is the same
    assert len(compact.encode()) < 3000
    for name, (_version, model) in OBJECT_TYPES.items():
        for field in set(model.model_fields) - BOOKKEEPING:
            for active in (False, True):
                assert reloaded.owners(name, field, active=active) == policy.owners(
                    name, field, active=active
                )
                for role in ("crm", "psa", "erp", "hr", "billing", "time", "expense"):
                    assert reloaded.may_flow(name, field, role, active=active) == policy.may_flow(
                        name, field, role, active=active
                    )


# --- errors name the line --------------------------------------------------------------------

GOOD_RULE = """\
[[rule]]
object = "Client"
attributes = ["name"]
owner = "crm"
flows_to = ["erp"]
"""

BROKEN = [
    (
        "syntax error",
        """\
version = 1

[[rule]]
object = "Client
attributes = ["name"]
""",
        4,
        "invalid TOML",
    ),
    (
        "missing version",
        "# no version here\n" + GOOD_RULE,
        1,
        "missing top-level 'version = 1'",
    ),
    (
        "unsupported version",
        """\
# ownership
# policy
version = 2
""",
        3,
        "unsupported version 2",
    ),
    ("version as a string", 'version = "1"\n', 1, "unsupported version '1'"),
    (
        "unknown top-level key",
        'version = 1\nowner = "crm"\n',
        2,
        "unknown top-level key 'owner'",
    ),
    (
        "unknown object type",
        f"""\
version = 1

{GOOD_RULE}
[[rule]]
object = "Customer"
attributes = ["*"]
owner = "erp"
flows_to = []
""",
        10,
        "unknown object type 'Customer'",
    ),
    (
        "unknown attribute in a multi-line list",
        """\
version = 1

[[rule]]
object = "Client"
attributes = [
  "name",
  "web_domain",
  "nickname",
]
owner = "crm"
flows_to = ["erp"]
""",
        8,
        "Client has no attribute 'nickname'",
    ),
    (
        "bookkeeping attribute",
        """\
version = 1
[[rule]]
object = "Client"
attributes = ["name", "external_ids"]
owner = "crm"
flows_to = []
""",
        4,
        "Client.external_ids is bookkeeping",
    ),
    (
        "'*' beside other attributes",
        """\
version = 1
[[rule]]
object = "Client"
owner = "crm"
flows_to = []
attributes = ["*", "name"]
""",
        6,
        "'*' (every other attribute of Client) must stand alone",
    ),
    (
        "unknown owner role",
        """\
version = 1
[[rule]]
object = "Client"
attributes = ["name"]
owner = "salesforce"
flows_to = []
""",
        5,
        "owner: unknown role 'salesforce'",
    ),
    (
        "unknown role in a flows_to list",
        """\
version = 1
[[rule]]
object = "TimeEntry"
attributes = ["*"]
owner = ["psa", "time"]
flows_to = [
  "erp",
  "payroll",
]
""",
        8,
        "flows_to: unknown role 'payroll'",
    ),
    (
        "unknown role once active",
        """\
version = 1
[[rule]]
object = "RateCard"
attributes = ["*"]
owner = "crm"
owner_once_active = "finance"
flows_to = []
""",
        6,
        "owner_once_active: unknown role 'finance'",
    ),
    (
        "attribute claimed by two rules",
        f"""\
version = 1
{GOOD_RULE}
[[rule]]
object = "Client"
attributes = ["segment", "name"]
owner = "erp"
flows_to = []
""",
        10,
        "Client: attribute 'name' is already claimed by the rule at line 2",
    ),
    (
        "two fallback rules for one object",
        """\
version = 1
[[rule]]
object = "Worker"
attributes = ["*"]
owner = "hr"
flows_to = []

[[rule]]
object = "Worker"
attributes = ['*']
owner = "erp"
flows_to = []
""",
        10,
        "Worker: the fallback rule ['*'] is already claimed by the rule at line 2",
    ),
    (
        "misspelt key",
        """\
version = 1
[[rule]]
object = "Client"
attributes = ["name"]
owners = "crm"
flows_to = []
""",
        5,
        "unknown key 'owners' in [[rule]]",
    ),
    (
        "rule without an owner",
        """\
version = 1

# the CRM's part
[[rule]]
object = "Client"
attributes = ["name"]
flows_to = []
""",
        4,
        "[[rule]] has no 'owner'",
    ),
    (
        "empty owner list",
        """\
version = 1
[[rule]]
object = "Client"
attributes = ["name"]
owner = []
flows_to = []
""",
        5,
        "owner names no role",
    ),
    (
        "attributes not a list",
        """\
version = 1
[[rule]]
object = "Client"
attributes = "name"
owner = "crm"
flows_to = []
""",
        4,
        "attributes must be a non-empty list",
    ),
]


@pytest.mark.parametrize(("text", "line", "fragment"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_a_broken_policy_names_its_source_line_and_entry(text: str, line: int, fragment: str) -> None:
    # Given a broken policy document
    # When it is loaded
    with pytest.raises(PolicyError) as raised:
        load_policy(text, source="test.toml")
    # Then the error names the source, the line and the bad entry
    message = str(raised.value)
    assert message.startswith(f"test.toml, line {line}: "), message
    assert fragment in message, message
    assert raised.value.line == line
