"""HubSpot CRM: v3-signed webhook batches in (deals, companies); the CRM role out."""

from pshub.platforms.manifest import Platform

PLATFORM = Platform(
    name="hubspot",
    title="HubSpot",
    roles=frozenset({"crm"}),
    inbound="webhook",
    adapter="pshub.platforms.hubspot.inbound:HubSpotAdapter",
    outbound={"crm": "pshub.platforms.hubspot.outbound:connect"},
    native_attributes={
        "Opportunity": {
            "dealname": "name",
            "amount": "amount",
            "dealstage": "stage",
            "closedate": "close_date",
        }
    },
)
