"""System APIs for outbound calls: one interface per role the firm's platforms play.

- ``erp.ErpConnector``: legal customer, project shell with dimensions, billing
  schedule, posted time (NetSuite, Dynamics 365 Finance, S/4HANA Cloud, Oracle Fusion).
- ``psa.PsaConnector``: delivery project from a template, rate card (Kantata, Certinia).
- ``crm.CrmConnector``: opportunity with account and terms, project write-back
  (Salesforce, HubSpot).
- ``billing.BillingConnector``: customer and billing plan (Stripe, Zuora).

Every operation takes and returns canonical models (``results`` for what is
specific to a connector) and raises the typed errors of ``errors``. Workflows get a
connector from ``registry`` by connection id; the platform's package builds it
(``pshub.platforms.<vendor>.outbound``, named in its manifest) on the HTTP kit in
``http``.
"""
