//! A Desk portal for tests: the emulator, a token manager and a Desk client wired to it.

#![allow(dead_code)] // each test binary uses its own subset

use std::sync::Arc;
use std::time::Duration;

use zoho_auth::{Credentials, TokenManager, ZohoEndpoints};
use zoho_desk_api::{DeskClient, DeskClientBuilder, NewTicket, PageRequest, Ticket, TicketFilter};
use zoho_sim::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, SimConfig, SimHandle, ZohoSim,
};

pub struct Portal {
    pub sim: Arc<SimHandle>,
    pub tokens: TokenManager,
    pub desk: DeskClient,
}

pub async fn portal() -> Portal {
    portal_with(SimConfig::default(), DEFAULT_REFRESH_TOKEN, |b| b).await
}

/// A portal whose client is built from `refresh_token` and adjusted by `configure`.
pub async fn portal_with(
    config: SimConfig,
    refresh_token: &str,
    configure: impl FnOnce(DeskClientBuilder) -> DeskClientBuilder,
) -> Portal {
    let sim = Arc::new(ZohoSim::start(config).await.expect("emulator starts"));
    let endpoints = ZohoEndpoints::custom(&sim.accounts_url(), &sim.desk_url()).expect("urls");
    let tokens = TokenManager::builder(
        Credentials::new(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, refresh_token),
        endpoints.clone(),
    )
    .build();
    let builder = DeskClient::builder(endpoints.desk_api_url(), sim.desk_org_id(), tokens.clone())
        .timeout(Duration::from_secs(10));
    let desk = configure(builder).build();
    Portal { sim, tokens, desk }
}

impl Portal {
    /// Requests the emulator counted on `route` (e.g. `"POST /tickets"`) answered with `status`.
    pub fn calls(&self, route: &str, status: u16) -> u64 {
        self.sim.stats().count(route, status)
    }

    /// Every Desk answer with this status, whatever the route.
    pub fn answers_with_status(&self, status: u16) -> u64 {
        self.sim
            .stats()
            .by_route_status
            .iter()
            .filter(|(route, _)| route.contains(' '))
            .filter_map(|(_, statuses)| statuses.get(&status))
            .sum()
    }

    /// The first ticket the emulator lists: a real department and contact for tests to build on.
    pub async fn first_ticket(&self) -> Ticket {
        self.desk
            .list_tickets(&TicketFilter::default(), PageRequest::first(1))
            .await
            .expect("the emulator lists tickets")
            .data
            .remove(0)
    }

    /// A new ticket titled `subject` in the first ticket's department, for its contact.
    pub async fn new_ticket_like_first(&self, subject: &str) -> NewTicket {
        let existing = self.first_ticket().await;
        NewTicket::for_contact(
            subject,
            existing.department_id.expect("department"),
            existing.contact_id.expect("contact"),
        )
    }
}
