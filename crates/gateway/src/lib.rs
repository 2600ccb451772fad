//! zoho-gateway: the HTTP gateway to Zoho Desk. The only crate that reads configuration, installs
//! exporters or binds ports. Its modules arrive with the gateway issue.
