//! The Desk v1 endpoints (`zoho-behaviour.md` §4), as methods on [`DeskClient`].

use futures::Stream;
use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::client::{Call, DeskClient};
use crate::error::DeskError;
use crate::ids::{self, AccountId, AgentId, ContactId, DepartmentId, ThreadId, TicketId};
use crate::models::{
    Account, Agent, Comment, Contact, ContactUpdate, Department, HistoryEvent, NewComment,
    NewContact, NewTicket, Organization, Thread, Ticket, TicketUpdate,
};
use crate::pagination::{Page, PageRequest, walk};

/// The page-size cap of most lists and searches.
pub const MAX_LIMIT: u32 = 100;
/// The page-size cap of ticket threads.
pub const MAX_THREAD_LIMIT: u32 = 200;

/// Filters of `GET /tickets`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFilter {
    /// Only this department.
    pub department_id: Option<DepartmentId>,
    /// Status (`Open`, `On Hold`, `Closed`, a custom one, or Zoho's comma lists).
    pub status: Option<String>,
    /// Priority.
    pub priority: Option<String>,
    /// Assignee id (or `Unassigned`).
    pub assignee: Option<String>,
    /// Channel.
    pub channel: Option<String>,
    /// Sort key, `-` prefix for descending (`-createdTime`).
    pub sort_by: Option<String>,
    /// Related data to include (`contacts`, `assignee`, `departments`, …).
    pub include: Vec<String>,
    /// Only these fields.
    pub fields: Vec<String>,
}

/// Parameters of `GET /tickets/search`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketSearch {
    /// Subject contains.
    pub subject: Option<String>,
    /// Contact email.
    pub email: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Priority.
    pub priority: Option<String>,
    /// Department.
    pub department_id: Option<DepartmentId>,
    /// Ticket number.
    pub ticket_number: Option<String>,
}

/// Parameters of `GET /contacts/search`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactSearch {
    /// Email.
    pub email: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Sort key, `-` prefix for descending.
    pub sort_by: Option<String>,
}

fn push(query: &mut Vec<(&'static str, String)>, key: &'static str, value: Option<&str>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        query.push((key, value.to_owned()));
    }
}

fn push_list(query: &mut Vec<(&'static str, String)>, key: &'static str, values: &[String]) {
    if !values.is_empty() {
        query.push((key, values.join(",")));
    }
}

impl TicketFilter {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        push(
            &mut query,
            "departmentId",
            self.department_id.as_ref().map(|d| d.as_str()),
        );
        push(&mut query, "status", self.status.as_deref());
        push(&mut query, "priority", self.priority.as_deref());
        push(&mut query, "assignee", self.assignee.as_deref());
        push(&mut query, "channel", self.channel.as_deref());
        push(&mut query, "sortBy", self.sort_by.as_deref());
        push_list(&mut query, "include", &self.include);
        push_list(&mut query, "fields", &self.fields);
        query
    }
}

impl TicketSearch {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        push(&mut query, "subject", self.subject.as_deref());
        push(&mut query, "email", self.email.as_deref());
        push(&mut query, "status", self.status.as_deref());
        push(&mut query, "priority", self.priority.as_deref());
        push(
            &mut query,
            "departmentId",
            self.department_id.as_ref().map(|d| d.as_str()),
        );
        push(&mut query, "ticketNumber", self.ticket_number.as_deref());
        query
    }
}

impl ContactSearch {
    fn query(&self) -> Vec<(&'static str, String)> {
        let mut query = Vec::new();
        push(&mut query, "email", self.email.as_deref());
        push(&mut query, "firstName", self.first_name.as_deref());
        push(&mut query, "lastName", self.last_name.as_deref());
        push(&mut query, "phone", self.phone.as_deref());
        push(&mut query, "sortBy", self.sort_by.as_deref());
        query
    }
}

/// An id checked to be a safe path segment, so it cannot change the path it is placed in.
fn segment(id: &str) -> Result<&str, DeskError> {
    ids::path_segment(id).ok_or_else(|| DeskError::InvalidInput(format!("invalid id {id:?}")))
}

/// `/{collection}/{id}`.
fn item_path(collection: &str, id: &str) -> Result<String, DeskError> {
    Ok(format!("/{collection}/{}", segment(id)?))
}

fn to_body<T: Serialize>(value: &T) -> Result<serde_json::Value, DeskError> {
    serde_json::to_value(value)
        .map_err(|e| DeskError::InvalidInput(format!("unserialisable body: {e}")))
}

impl DeskClient {
    async fn get<T: DeserializeOwned>(
        &self,
        template: &'static str,
        path: String,
    ) -> Result<T, DeskError> {
        self.fetch(Call::new(Method::GET, template, path)).await
    }

    async fn list<T: DeserializeOwned>(
        &self,
        template: &'static str,
        path: String,
        query: Vec<(&'static str, String)>,
        page: PageRequest,
        max_limit: u32,
    ) -> Result<Page<T>, DeskError> {
        self.page(
            Call::new(Method::GET, template, path).query(query),
            page,
            max_limit,
        )
        .await
    }

    // --- organizations -------------------------------------------------------------------

    /// `GET /organizations`: the portals the token can reach (sent without `orgId`).
    pub async fn organizations(&self) -> Result<Vec<Organization>, DeskError> {
        let mut call = Call::new(Method::GET, "/organizations", "/organizations".into());
        call.org_scoped = false;
        let page: Page<Organization> = self
            .page(call, PageRequest::first(MAX_LIMIT), MAX_LIMIT)
            .await?;
        Ok(page.data)
    }

    // --- tickets -------------------------------------------------------------------------

    /// `GET /tickets`: one page.
    pub async fn list_tickets(
        &self,
        filter: &TicketFilter,
        page: PageRequest,
    ) -> Result<Page<Ticket>, DeskError> {
        self.list(
            "/tickets",
            "/tickets".into(),
            filter.query(),
            page,
            MAX_LIMIT,
        )
        .await
    }

    /// Every ticket matching `filter`, one call per page of `limit`.
    pub fn tickets<'a>(
        &'a self,
        filter: &'a TicketFilter,
        limit: u32,
    ) -> impl Stream<Item = Result<Ticket, DeskError>> + 'a {
        walk(PageRequest::first(limit), move |page| {
            self.list_tickets(filter, page)
        })
    }

    /// `GET /tickets/{id}`.
    pub async fn ticket(&self, id: &TicketId) -> Result<Ticket, DeskError> {
        self.get("/tickets/{id}", item_path("tickets", id.as_str())?)
            .await
    }

    /// `POST /tickets`. Never retried after it may have reached Zoho (a retry could create a
    /// duplicate); a 401 or 429, which Zoho answers before acting, is resent.
    pub async fn create_ticket(&self, ticket: &NewTicket) -> Result<Ticket, DeskError> {
        ticket.check().map_err(DeskError::InvalidInput)?;
        self.fetch(Call::new(Method::POST, "/tickets", "/tickets".into()).body(to_body(ticket)?))
            .await
    }

    /// `PATCH /tickets/{id}`: only the fields set in `update` change.
    pub async fn update_ticket(
        &self,
        id: &TicketId,
        update: &TicketUpdate,
    ) -> Result<Ticket, DeskError> {
        let path = item_path("tickets", id.as_str())?;
        self.fetch(Call::new(Method::PATCH, "/tickets/{id}", path).body(to_body(update)?))
            .await
    }

    /// `POST /tickets/moveToTrash`.
    pub async fn move_tickets_to_trash(&self, ids: &[TicketId]) -> Result<(), DeskError> {
        if ids.is_empty() {
            return Err(DeskError::InvalidInput(
                "no ticket ids to move to trash".into(),
            ));
        }
        let body = serde_json::json!({ "ticketIds": ids });
        self.execute(
            Call::new(
                Method::POST,
                "/tickets/moveToTrash",
                "/tickets/moveToTrash".into(),
            )
            .body(body),
        )
        .await
        .map(drop)
    }

    /// `GET /tickets/search`: one page.
    pub async fn search_tickets(
        &self,
        search: &TicketSearch,
        page: PageRequest,
    ) -> Result<Page<Ticket>, DeskError> {
        self.list(
            "/tickets/search",
            "/tickets/search".into(),
            search.query(),
            page,
            MAX_LIMIT,
        )
        .await
    }

    /// `GET /tickets/{id}/threads`: one page (limit up to 200).
    pub async fn list_threads(
        &self,
        ticket: &TicketId,
        page: PageRequest,
    ) -> Result<Page<Thread>, DeskError> {
        let path = format!("{}/threads", item_path("tickets", ticket.as_str())?);
        self.list(
            "/tickets/{id}/threads",
            path,
            Vec::new(),
            page,
            MAX_THREAD_LIMIT,
        )
        .await
    }

    /// `GET /tickets/{id}/threads/{threadId}`, with the full content.
    pub async fn thread(&self, ticket: &TicketId, thread: &ThreadId) -> Result<Thread, DeskError> {
        let path = format!(
            "{}/threads/{}",
            item_path("tickets", ticket.as_str())?,
            segment(thread.as_str())?
        );
        self.get("/tickets/{id}/threads/{threadId}", path).await
    }

    /// `GET /tickets/{id}/comments`: one page.
    pub async fn list_comments(
        &self,
        ticket: &TicketId,
        page: PageRequest,
    ) -> Result<Page<Comment>, DeskError> {
        let path = format!("{}/comments", item_path("tickets", ticket.as_str())?);
        self.list("/tickets/{id}/comments", path, Vec::new(), page, MAX_LIMIT)
            .await
    }

    /// `POST /tickets/{id}/comments`. Not retried after it may have reached Zoho.
    pub async fn create_comment(
        &self,
        ticket: &TicketId,
        comment: &NewComment,
    ) -> Result<Comment, DeskError> {
        comment.check().map_err(DeskError::InvalidInput)?;
        let path = format!("{}/comments", item_path("tickets", ticket.as_str())?);
        self.fetch(Call::new(Method::POST, "/tickets/{id}/comments", path).body(to_body(comment)?))
            .await
    }

    /// `GET /tickets/{id}/History`: one page.
    pub async fn ticket_history(
        &self,
        ticket: &TicketId,
        page: PageRequest,
    ) -> Result<Page<HistoryEvent>, DeskError> {
        let path = format!("{}/History", item_path("tickets", ticket.as_str())?);
        self.list("/tickets/{id}/History", path, Vec::new(), page, MAX_LIMIT)
            .await
    }

    // --- contacts ------------------------------------------------------------------------

    /// `GET /contacts`: one page.
    pub async fn list_contacts(&self, page: PageRequest) -> Result<Page<Contact>, DeskError> {
        self.list("/contacts", "/contacts".into(), Vec::new(), page, MAX_LIMIT)
            .await
    }

    /// Every contact, one call per page of `limit`.
    pub fn contacts(&self, limit: u32) -> impl Stream<Item = Result<Contact, DeskError>> + '_ {
        walk(PageRequest::first(limit), move |page| {
            self.list_contacts(page)
        })
    }

    /// `GET /contacts/{id}`.
    pub async fn contact(&self, id: &ContactId) -> Result<Contact, DeskError> {
        self.get("/contacts/{id}", item_path("contacts", id.as_str())?)
            .await
    }

    /// `POST /contacts`. Not retried after it may have reached Zoho.
    pub async fn create_contact(&self, contact: &NewContact) -> Result<Contact, DeskError> {
        contact.check().map_err(DeskError::InvalidInput)?;
        self.fetch(Call::new(Method::POST, "/contacts", "/contacts".into()).body(to_body(contact)?))
            .await
    }

    /// `PATCH /contacts/{id}`.
    pub async fn update_contact(
        &self,
        id: &ContactId,
        update: &ContactUpdate,
    ) -> Result<Contact, DeskError> {
        let path = item_path("contacts", id.as_str())?;
        self.fetch(Call::new(Method::PATCH, "/contacts/{id}", path).body(to_body(update)?))
            .await
    }

    /// `GET /contacts/search`: one page.
    pub async fn search_contacts(
        &self,
        search: &ContactSearch,
        page: PageRequest,
    ) -> Result<Page<Contact>, DeskError> {
        self.list(
            "/contacts/search",
            "/contacts/search".into(),
            search.query(),
            page,
            MAX_LIMIT,
        )
        .await
    }

    // --- accounts, agents, departments ---------------------------------------------------

    /// `GET /accounts`: one page.
    pub async fn list_accounts(&self, page: PageRequest) -> Result<Page<Account>, DeskError> {
        self.list("/accounts", "/accounts".into(), Vec::new(), page, MAX_LIMIT)
            .await
    }

    /// `GET /accounts/{id}`.
    pub async fn account(&self, id: &AccountId) -> Result<Account, DeskError> {
        self.get("/accounts/{id}", item_path("accounts", id.as_str())?)
            .await
    }

    /// `GET /agents`: one page.
    pub async fn list_agents(&self, page: PageRequest) -> Result<Page<Agent>, DeskError> {
        self.list("/agents", "/agents".into(), Vec::new(), page, MAX_LIMIT)
            .await
    }

    /// `GET /agents/{id}`.
    pub async fn agent(&self, id: &AgentId) -> Result<Agent, DeskError> {
        self.get("/agents/{id}", item_path("agents", id.as_str())?)
            .await
    }

    /// `GET /departments`: one page.
    pub async fn list_departments(&self, page: PageRequest) -> Result<Page<Department>, DeskError> {
        self.list(
            "/departments",
            "/departments".into(),
            Vec::new(),
            page,
            MAX_LIMIT,
        )
        .await
    }
}
