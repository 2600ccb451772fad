//! The typed Desk routes: tickets, contacts and the directory, over `zoho-desk-api`, with
//! Zoho's paging as `{"data","from","limit","next"}`.

use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use zoho_desk_api::{
    ContactId, ContactSearch, ContactUpdate, DepartmentId, NewComment, NewContact, NewTicket, Page,
    PageRequest, TicketFilter, TicketId, TicketSearch, TicketUpdate,
};

use super::extract::{Json, Path, Query};
use super::{ErrorBody, created, ok};
use crate::error::RouteError;
use crate::state::Ctx;

/// Page size when the client gives none (Zoho's own default).
const DEFAULT_LIMIT: u32 = 10;

/// A page of a Desk list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListBody {
    /// The items, in Zoho's shapes.
    #[schema(value_type = Vec<Object>)]
    data: Value,
    /// Offset of the first item.
    from: u32,
    /// Page size.
    limit: u32,
    /// The URL of the next page, or null on the last page.
    next: Option<String>,
}

// --- shared helpers ------------------------------------------------------------------------

/// `from` and `limit` of a list route.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// 0-based offset (default 0).
    from: Option<u32>,
    /// Page size, 1–100 (default 10).
    limit: Option<u32>,
}

impl Paging {
    fn page(&self) -> PageRequest {
        page(self.from, self.limit)
    }
}

/// The page a list route asked for, with the defaults (offset 0, [`DEFAULT_LIMIT`]).
fn page(from: Option<u32>, limit: Option<u32>) -> PageRequest {
    PageRequest::new(from.unwrap_or(0), limit.unwrap_or(DEFAULT_LIMIT))
}

/// `{"data":[...],"from":N,"limit":N,"next":<url|null>}`; `next` repeats the request's own
/// query with `from` moved on.
fn list<T: Serialize>(ctx: &Ctx, page: Page<T>) -> Response {
    let next = page.next().map(|next| {
        let mut pairs: Vec<(String, String)> = ctx
            .query
            .as_deref()
            .map(|q| {
                form_pairs(q)
                    .into_iter()
                    .filter(|(k, _)| k != "from" && k != "limit")
                    .collect()
            })
            .unwrap_or_default();
        pairs.push(("from".into(), next.from.to_string()));
        pairs.push(("limit".into(), next.limit.to_string()));
        let query: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("{}?{}", ctx.path, query.join("&"))
    });
    // Serialized straight from the typed page: no intermediate `Value` tree to build and drop.
    #[derive(Serialize)]
    struct Body<'a, T> {
        data: &'a [T],
        from: u32,
        limit: u32,
        next: Option<String>,
    }
    ok(Body {
        data: &page.data,
        from: page.from,
        limit: page.limit,
        next,
    })
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(
        &format!("/?{query}").parse().unwrap_or_default(),
    )
    .map(|axum::extract::Query(pairs)| pairs)
    .unwrap_or_default()
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn split(list: Option<String>) -> Vec<String> {
    list.map(|l| {
        l.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

// --- tickets -------------------------------------------------------------------------------

/// Filters of the ticket list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct TicketListQuery {
    /// 0-based offset.
    from: Option<u32>,
    /// Page size, 1–100.
    limit: Option<u32>,
    /// Department id.
    department_id: Option<String>,
    /// Status.
    status: Option<String>,
    /// Priority.
    priority: Option<String>,
    /// Assignee id or `Unassigned`.
    assignee: Option<String>,
    /// Channel.
    channel: Option<String>,
    /// Sort key, `-` prefix for descending.
    sort_by: Option<String>,
    /// Related data, comma-separated.
    include: Option<String>,
    /// Fields, comma-separated.
    fields: Option<String>,
}

#[utoipa::path(get, path = "/api/zoho-desk/tickets", tag = "tickets", params(TicketListQuery),
    responses((status = 200, body = ListBody), (status = 400, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(crate) async fn list_tickets(
    ctx: Ctx,
    Query(q): Query<TicketListQuery>,
) -> Result<Response, RouteError> {
    let page = page(q.from, q.limit);
    let filter = TicketFilter {
        department_id: q.department_id.map(DepartmentId::new),
        status: q.status,
        priority: q.priority,
        assignee: q.assignee,
        channel: q.channel,
        sort_by: q.sort_by,
        include: split(q.include),
        fields: split(q.fields),
    };
    Ok(list(
        &ctx,
        ctx.state.desk.list_tickets(&filter, page).await?,
    ))
}

#[utoipa::path(post, path = "/api/zoho-desk/tickets", tag = "tickets",
    request_body(content = Object, description = "Zoho's ticket shape: subject, departmentId, contactId or contact"),
    responses((status = 201, body = Object), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_ticket(
    ctx: Ctx,
    Json(new): Json<NewTicket>,
) -> Result<Response, RouteError> {
    Ok(created(ctx.state.desk.create_ticket(&new).await?))
}

#[utoipa::path(get, path = "/api/zoho-desk/tickets/{id}", tag = "tickets", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_ticket(ctx: Ctx, Path(id): Path<String>) -> Result<Response, RouteError> {
    Ok(ok(ctx.state.desk.ticket(&TicketId::new(id)).await?))
}

#[utoipa::path(patch, path = "/api/zoho-desk/tickets/{id}", tag = "tickets", params(("id" = String, Path)),
    request_body(content = Object), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn update_ticket(
    ctx: Ctx,
    Path(id): Path<String>,
    Json(update): Json<TicketUpdate>,
) -> Result<Response, RouteError> {
    let id = TicketId::new(id);
    Ok(ok(ctx.state.desk.update_ticket(&id, &update).await?))
}

#[utoipa::path(get, path = "/api/zoho-desk/tickets/{id}/threads", tag = "tickets",
    params(("id" = String, Path), Paging), responses((status = 200, body = ListBody)))]
pub(crate) async fn list_threads(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(paging): Query<Paging>,
) -> Result<Response, RouteError> {
    let id = TicketId::new(id);
    Ok(list(
        &ctx,
        ctx.state.desk.list_threads(&id, paging.page()).await?,
    ))
}

#[utoipa::path(get, path = "/api/zoho-desk/tickets/{id}/comments", tag = "tickets",
    params(("id" = String, Path), Paging), responses((status = 200, body = ListBody)))]
pub(crate) async fn list_comments(
    ctx: Ctx,
    Path(id): Path<String>,
    Query(paging): Query<Paging>,
) -> Result<Response, RouteError> {
    let id = TicketId::new(id);
    Ok(list(
        &ctx,
        ctx.state.desk.list_comments(&id, paging.page()).await?,
    ))
}

#[utoipa::path(post, path = "/api/zoho-desk/tickets/{id}/comments", tag = "tickets",
    params(("id" = String, Path)), request_body(content = Object), responses((status = 201, body = Object)))]
pub(crate) async fn create_comment(
    ctx: Ctx,
    Path(id): Path<String>,
    Json(comment): Json<NewComment>,
) -> Result<Response, RouteError> {
    let id = TicketId::new(id);
    Ok(created(ctx.state.desk.create_comment(&id, &comment).await?))
}

/// Ticket search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct TicketSearchQuery {
    /// 0-based offset.
    from: Option<u32>,
    /// Page size, 1–100.
    limit: Option<u32>,
    /// Subject contains.
    subject: Option<String>,
    /// Contact email.
    email: Option<String>,
    /// Status.
    status: Option<String>,
    /// Priority.
    priority: Option<String>,
    /// Department id.
    department_id: Option<String>,
    /// Ticket number.
    ticket_number: Option<String>,
}

#[utoipa::path(get, path = "/api/zoho-desk/tickets/search", tag = "tickets", params(TicketSearchQuery),
    responses((status = 200, body = ListBody)))]
pub(crate) async fn search_tickets(
    ctx: Ctx,
    Query(q): Query<TicketSearchQuery>,
) -> Result<Response, RouteError> {
    let page = page(q.from, q.limit);
    let search = TicketSearch {
        subject: q.subject,
        email: q.email,
        status: q.status,
        priority: q.priority,
        department_id: q.department_id.map(DepartmentId::new),
        ticket_number: q.ticket_number,
    };
    Ok(list(
        &ctx,
        ctx.state.desk.search_tickets(&search, page).await?,
    ))
}

// --- contacts ------------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/zoho-desk/contacts", tag = "contacts", params(Paging),
    responses((status = 200, body = ListBody)))]
pub(crate) async fn list_contacts(
    ctx: Ctx,
    Query(paging): Query<Paging>,
) -> Result<Response, RouteError> {
    Ok(list(
        &ctx,
        ctx.state.desk.list_contacts(paging.page()).await?,
    ))
}

#[utoipa::path(post, path = "/api/zoho-desk/contacts", tag = "contacts", request_body(content = Object),
    responses((status = 201, body = Object), (status = 422, body = ErrorBody)))]
pub(crate) async fn create_contact(
    ctx: Ctx,
    Json(new): Json<NewContact>,
) -> Result<Response, RouteError> {
    Ok(created(ctx.state.desk.create_contact(&new).await?))
}

#[utoipa::path(get, path = "/api/zoho-desk/contacts/{id}", tag = "contacts", params(("id" = String, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_contact(ctx: Ctx, Path(id): Path<String>) -> Result<Response, RouteError> {
    Ok(ok(ctx.state.desk.contact(&ContactId::new(id)).await?))
}

#[utoipa::path(patch, path = "/api/zoho-desk/contacts/{id}", tag = "contacts", params(("id" = String, Path)),
    request_body(content = Object), responses((status = 200, body = Object)))]
pub(crate) async fn update_contact(
    ctx: Ctx,
    Path(id): Path<String>,
    Json(update): Json<ContactUpdate>,
) -> Result<Response, RouteError> {
    let id = ContactId::new(id);
    Ok(ok(ctx.state.desk.update_contact(&id, &update).await?))
}

/// Contact search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ContactSearchQuery {
    /// 0-based offset.
    from: Option<u32>,
    /// Page size, 1–100.
    limit: Option<u32>,
    /// Email.
    email: Option<String>,
    /// First name.
    first_name: Option<String>,
    /// Last name.
    last_name: Option<String>,
    /// Phone.
    phone: Option<String>,
    /// Sort key.
    sort_by: Option<String>,
}

#[utoipa::path(get, path = "/api/zoho-desk/contacts/search", tag = "contacts", params(ContactSearchQuery),
    responses((status = 200, body = ListBody)))]
pub(crate) async fn search_contacts(
    ctx: Ctx,
    Query(q): Query<ContactSearchQuery>,
) -> Result<Response, RouteError> {
    let page = page(q.from, q.limit);
    let search = ContactSearch {
        email: q.email,
        first_name: q.first_name,
        last_name: q.last_name,
        phone: q.phone,
        sort_by: q.sort_by,
    };
    Ok(list(
        &ctx,
        ctx.state.desk.search_contacts(&search, page).await?,
    ))
}

// --- directory -----------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/zoho-desk/agents", tag = "directory", params(Paging),
    responses((status = 200, body = ListBody)))]
pub(crate) async fn list_agents(
    ctx: Ctx,
    Query(paging): Query<Paging>,
) -> Result<Response, RouteError> {
    Ok(list(&ctx, ctx.state.desk.list_agents(paging.page()).await?))
}

#[utoipa::path(get, path = "/api/zoho-desk/departments", tag = "directory", params(Paging),
    responses((status = 200, body = ListBody)))]
pub(crate) async fn list_departments(
    ctx: Ctx,
    Query(paging): Query<Paging>,
) -> Result<Response, RouteError> {
    Ok(list(
        &ctx,
        ctx.state.desk.list_departments(paging.page()).await?,
    ))
}

#[utoipa::path(get, path = "/api/zoho-desk/organizations", tag = "directory",
    responses((status = 200, body = Object)))]
pub(crate) async fn list_organizations(ctx: Ctx) -> Result<Response, RouteError> {
    Ok(ok(json!({ "data": ctx.state.desk.organizations().await? })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("On Hold&x=1"), "On%20Hold%26x%3D1");
    }
}
