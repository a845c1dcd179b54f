"""The ownership policy: the default file encodes PRODUCT.md's system-of-record table, and a
broken policy is refused with the line of the offending entry."""

from __future__ import annotations

import pytest

from pshub.canonical.model import OBJECT_TYPES
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
    # card payments in the billing platform, bank transfers in the ERP
    ("Payment", "amount", False, {"billing", "erp"}),
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
