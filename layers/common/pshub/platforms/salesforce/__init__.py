"""Salesforce: Outbound Messages in (opportunities, accounts); the CRM role out."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="salesforce",
    title="Salesforce",
    roles=frozenset({"crm"}),
    inbound="webhook",
    adapter="pshub.platforms.salesforce.inbound:SalesforceAdapter",
    outbound={"crm": "pshub.platforms.salesforce.outbound:connect"},
    native_attributes={
        "Opportunity": {
            "Name": "name",
            "Amount": "amount",
            "StageName": "stage",
            "CloseDate": "close_date",
            "AccountId": "client_id",
        }
    },
)
