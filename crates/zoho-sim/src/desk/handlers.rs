//! The Desk endpoints. Each runs with the portal locked, after the gate in `mod.rs` has
//! authenticated, authorised and charged the request: what is left is finding the resource,
//! validating input and answering in Zoho's shapes.

use std::cmp::Ordering;
use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::portal::{Obj, Portal, STATUSES, text};
use super::{Refusal, error, json_response, not_found};

/// An endpoint's answer; `Err` is a refusal, also a complete response.
pub(crate) type Reply = Result<Response, Refusal>;

/// One request as an endpoint sees it.
pub(crate) struct Call {
    /// The `{parameter}` values of the route template, in order.
    pub(crate) params: Vec<String>,
    pub(crate) query: HashMap<String, String>,
    pub(crate) body: Bytes,
    /// Wall time of the request, for the timestamps it writes.
    pub(crate) now_ms: u64,
}

fn unprocessable(message: &str) -> Refusal {
    error(422, "UNPROCESSABLE_ENTITY", message)
}

impl Call {
    fn id(&self) -> &str {
        &self.params[0]
    }

    /// A query parameter, trimmed; empty counts as absent.
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// `from` (0-based, default 0) and `limit` (default 10, 1..=`max`).
    fn paging(&self, max: u64) -> Result<(usize, usize), Refusal> {
        let from = match self.query("from") {
            None => 0,
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| unprocessable("The value passed for field 'from' is invalid."))?,
        };
        let limit = match self.query("limit").map(str::parse::<u64>) {
            None => 10,
            Some(Ok(n)) if (1..=max).contains(&n) => n as usize,
            Some(_) => {
                return Err(unprocessable(&format!(
                    "The value passed for field 'limit' exceeds the range of '1-{max}'."
                )));
            }
        };
        Ok((from, limit))
    }

    /// `sortBy`: one of `allowed`, `-` prefixed for descending.
    fn sort(&self, allowed: &[&'static str]) -> Result<Option<(&'static str, bool)>, Refusal> {
        let Some(raw) = self.query("sortBy") else {
            return Ok(None);
        };
        let (field, descending) = raw.strip_prefix('-').map_or((raw, false), |f| (f, true));
        allowed
            .iter()
            .find(|a| **a == field)
            .map(|a| Some((*a, descending)))
            .ok_or_else(|| unprocessable("The value passed for field 'sortBy' is invalid."))
    }

    /// `include`: a comma-separated subset of `allowed`.
    fn include(&self, allowed: &[&'static str]) -> Result<Vec<&'static str>, Refusal> {
        let Some(raw) = self.query("include") else {
            return Ok(Vec::new());
        };
        raw.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|name| {
                allowed
                    .iter()
                    .find(|a| **a == name)
                    .copied()
                    .ok_or_else(|| {
                        unprocessable("The value passed for field 'include' is invalid.")
                    })
            })
            .collect()
    }

    /// `fields`: the only fields to return (with `id`).
    fn fields(&self) -> Option<Vec<&str>> {
        self.query("fields")
            .map(|f| f.split(',').map(str::trim).collect())
    }

    /// The JSON object body; an empty body reads as `{}`.
    fn object(&self) -> Result<Obj, Refusal> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Obj::new());
        }
        match serde_json::from_slice(&self.body) {
            Ok(Value::Object(object)) => Ok(object),
            Ok(_) => Err(error(
                422,
                "INVALID_DATA",
                "The request body must be a JSON object.",
            )),
            Err(_) => Err(unprocessable("The request body is not valid JSON.")),
        }
    }
}

/// A page of a list: `{"data":[…]}`, or 204 with no body when empty (also past the end).
fn page(rows: Vec<Value>) -> Response {
    if rows.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        json_response(200, json!({ "data": rows }))
    }
}

/// A page of search results, with the total number of matches as a string.
fn search_page(count: usize, rows: Vec<Value>) -> Response {
    if rows.is_empty() {
        StatusCode::NO_CONTENT.into_response()
    } else {
        json_response(200, json!({ "data": rows, "count": count.to_string() }))
    }
}

fn one(record: Obj) -> Reply {
    Ok(json_response(200, Value::Object(record)))
}

/// How a query parameter selects records.
#[derive(Debug, Clone, Copy)]
enum Match {
    /// Equal to one of the comma-separated values, ignoring case.
    Equals,
    /// Contains the value, ignoring case and `*` wildcards.
    Contains,
    /// An agent id, or `Unassigned`.
    Assignee,
}

/// `(query parameter, record field, how)`.
type Filter = (&'static str, &'static str, Match);

fn matches(record: &Obj, call: &Call, filters: &[Filter]) -> bool {
    filters.iter().all(|(param, field, how)| {
        let Some(wanted) = call.query(param) else {
            return true;
        };
        let value = text(record, field);
        match how {
            Match::Equals => wanted
                .split(',')
                .any(|w| w.trim().eq_ignore_ascii_case(value)),
            Match::Contains => value
                .to_lowercase()
                .contains(&wanted.replace('*', "").to_lowercase()),
            Match::Assignee => wanted.split(',').map(str::trim).any(|w| {
                if w.eq_ignore_ascii_case("Unassigned") {
                    value.is_empty()
                } else {
                    w == value
                }
            }),
        }
    })
}

/// Stable sort by `field`: numbers (ids, ticket numbers) numerically, text ignoring case, missing
/// values last.
fn sort_rows(rows: &mut [&Obj], sort: Option<(&str, bool)>) {
    let Some((field, descending)) = sort else {
        return;
    };
    rows.sort_by(|a, b| {
        let order = match (
            a.get(field).and_then(Value::as_str),
            b.get(field).and_then(Value::as_str),
        ) {
            (Some(x), Some(y)) => match (x.parse::<u64>(), y.parse::<u64>()) {
                (Ok(x), Ok(y)) => x.cmp(&y),
                _ => x.to_lowercase().cmp(&y.to_lowercase()),
            },
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        if descending { order.reverse() } else { order }
    });
}

/// `record`, cut down to `id` and `fields` when the client asked for specific fields.
fn view(record: &Obj, fields: Option<&[&str]>) -> Obj {
    match fields {
        None => record.clone(),
        Some(fields) => record
            .iter()
            .filter(|(k, _)| *k == "id" || fields.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// A list endpoint over plain records: filter, sort, page, view.
fn list<'a>(
    records: impl Iterator<Item = &'a Obj>,
    call: &Call,
    filters: &[Filter],
    sorts: &[&'static str],
    max_limit: u64,
) -> Result<(usize, Vec<Obj>), Refusal> {
    let (from, limit) = call.paging(max_limit)?;
    let sort = call.sort(sorts)?;
    let mut rows: Vec<&Obj> = records.filter(|r| matches(r, call, filters)).collect();
    sort_rows(&mut rows, sort);
    let fields = call.fields();
    let total = rows.len();
    let page = rows
        .into_iter()
        .skip(from)
        .take(limit)
        .map(|r| view(r, fields.as_deref()))
        .collect();
    Ok((total, page))
}

fn values(rows: Vec<Obj>) -> Vec<Value> {
    rows.into_iter().map(Value::Object).collect()
}

// ---- validation -------------------------------------------------------------------------

/// Field errors of a create or update, answered together as Zoho does.
#[derive(Debug, Default)]
struct Problems(Vec<Value>);

impl Problems {
    fn add(&mut self, pointer: &str, kind: &str, message: &str) {
        self.0
            .push(json!({ "fieldName": pointer, "errorType": kind, "errorMessage": message }));
    }

    fn missing(&mut self, field: &str) {
        self.add(
            &format!("/{field}"),
            "missing",
            &format!("The field '{field}' is required."),
        );
    }

    fn invalid(&mut self, field: &str, why: &str) {
        self.add(&format!("/{field}"), "invalid", why);
    }

    fn finish(self) -> Result<(), Refusal> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut refusal = error(
            422,
            "INVALID_DATA",
            "The data you provided is invalid; see errors.",
        );
        refusal.body["errors"] = Value::Array(self.0);
        Err(refusal)
    }
}

fn absent(body: &Obj, field: &str) -> bool {
    body.get(field).is_none_or(Value::is_null)
}

/// A text field that must be non-empty: always when `required`, else only when sent.
fn check_text(body: &Obj, field: &str, required: bool, problems: &mut Problems) {
    match body.get(field) {
        None if !required => {}
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        None | Some(Value::Null) | Some(Value::String(_)) => problems.missing(field),
        Some(_) => problems.invalid(field, &format!("The field '{field}' must be a string.")),
    }
}

/// An id field, when sent, must name an existing record (or be `null` when `nullable`).
fn check_ref(
    body: &Obj,
    field: &str,
    nullable: bool,
    exists: impl Fn(&str) -> bool,
    problems: &mut Problems,
) {
    match body.get(field) {
        None => {}
        Some(Value::Null) if nullable => {}
        Some(Value::String(id)) if exists(id) => {}
        Some(_) => problems.invalid(
            field,
            &format!("The value of '{field}' does not identify an existing record."),
        ),
    }
}

fn check_custom_fields(body: &Obj, problems: &mut Problems) {
    for field in ["cf", "customFields"] {
        if body.get(field).is_some_and(|v| !v.is_object()) {
            problems.invalid(field, &format!("The field '{field}' must be an object."));
        }
    }
}

fn check_ticket(portal: &Portal, body: &Obj, creating: bool, problems: &mut Problems) {
    check_text(body, "subject", creating, problems);
    if creating && absent(body, "departmentId") {
        problems.missing("departmentId");
    } else {
        check_ref(
            body,
            "departmentId",
            false,
            |id| portal.department(id).is_some(),
            problems,
        );
    }
    if !creating {
        check_ref(
            body,
            "contactId",
            false,
            |id| portal.contact(id).is_some(),
            problems,
        );
    }
    check_ref(
        body,
        "assigneeId",
        true,
        |id| portal.agent(id).is_some(),
        problems,
    );
    if let Some(status) = body.get("status")
        && !status
            .as_str()
            .is_some_and(|s| STATUSES.iter().any(|(known, _)| *known == s))
    {
        problems.invalid("status", "The value of 'status' is not a ticket status.");
    }
    check_custom_fields(body, problems);
}

fn check_contact(portal: &Portal, body: &Obj, own_id: Option<&str>, problems: &mut Problems) {
    check_text(body, "lastName", own_id.is_none(), problems);
    match body.get("email") {
        None | Some(Value::Null) => {}
        Some(Value::String(email)) if email.contains('@') => {
            if portal
                .contact_by_email(email)
                .is_some_and(|c| Some(text(c, "id")) != own_id)
            {
                problems.add(
                    "/email",
                    "duplicate",
                    "A contact with this email already exists.",
                );
            }
        }
        Some(_) => problems.invalid("email", "The value of 'email' is not an email address."),
    }
    check_ref(
        body,
        "accountId",
        true,
        |id| portal.account(id).is_some(),
        problems,
    );
    check_ref(
        body,
        "ownerId",
        false,
        |id| portal.agent(id).is_some(),
        problems,
    );
    check_custom_fields(body, problems);
}

/// Who a new ticket is for.
enum ContactPick {
    Existing(String),
    New(Obj),
}

/// `contactId`, or a `contact` object with `lastName` or `email`: a known email reuses that
/// contact, anything else creates one (after validation passes).
fn pick_contact(portal: &Portal, body: &Obj, problems: &mut Problems) -> Option<ContactPick> {
    if !absent(body, "contactId") {
        let id = body["contactId"]
            .as_str()
            .filter(|id| portal.contact(id).is_some());
        if id.is_none() {
            problems.invalid(
                "contactId",
                "The value of 'contactId' does not identify an existing record.",
            );
        }
        return id.map(|id| ContactPick::Existing(id.to_owned()));
    }
    let contact = match body.get("contact") {
        None | Some(Value::Null) => {
            problems.add(
                "/contactId",
                "missing",
                "Either 'contactId' or a 'contact' object is required.",
            );
            return None;
        }
        Some(Value::Object(contact)) => contact,
        Some(_) => {
            problems.invalid("contact", "The field 'contact' must be an object.");
            return None;
        }
    };
    let field = |name: &str| {
        contact
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    match (field("lastName"), field("email")) {
        (_, Some(email)) if !email.contains('@') => {
            problems.invalid(
                "contact/email",
                "The value of 'email' is not an email address.",
            );
            None
        }
        (None, None) => {
            problems.add(
                "/contact/lastName",
                "missing",
                "The contact needs a 'lastName' or an 'email'.",
            );
            None
        }
        (last, Some(email)) => match portal.contact_by_email(email) {
            Some(existing) => Some(ContactPick::Existing(text(existing, "id").to_owned())),
            None => {
                let mut new = contact.clone();
                if last.is_none() {
                    // Zoho names an email-only contact after the email's local part.
                    let local = email.split('@').next().unwrap_or(email);
                    new.insert("lastName".into(), json!(local));
                }
                Some(ContactPick::New(new))
            }
        },
        (Some(_), None) => Some(ContactPick::New(contact.clone())),
    }
}

// ---- organizations, agents, departments, accounts ---------------------------------------

pub(crate) fn organizations(portal: &mut Portal, _: &Call) -> Reply {
    Ok(json_response(200, json!({ "data": [portal.organization] })))
}

pub(crate) fn list_agents(portal: &mut Portal, call: &Call) -> Reply {
    let (_, rows) = list(portal.agents.iter(), call, &[], &[], 100)?;
    Ok(page(values(rows)))
}

pub(crate) fn get_agent(portal: &mut Portal, call: &Call) -> Reply {
    one(portal.agent(call.id()).ok_or_else(not_found)?.clone())
}

pub(crate) fn list_departments(portal: &mut Portal, call: &Call) -> Reply {
    let (_, rows) = list(portal.departments.iter(), call, &[], &[], 100)?;
    Ok(page(values(rows)))
}

pub(crate) fn list_accounts(portal: &mut Portal, call: &Call) -> Reply {
    let sorts = ["accountName", "createdTime", "modifiedTime"];
    let (_, rows) = list(portal.accounts.iter(), call, &[], &sorts, 100)?;
    Ok(page(values(rows)))
}

pub(crate) fn get_account(portal: &mut Portal, call: &Call) -> Reply {
    one(portal.account(call.id()).ok_or_else(not_found)?.clone())
}

// ---- tickets ----------------------------------------------------------------------------

const TICKET_SORTS: &[&str] = &["createdTime", "modifiedTime", "ticketNumber", "dueDate"];
const TICKET_INCLUDES: &[&str] = &[
    "contacts",
    "assignee",
    "departments",
    "team",
    "isRead",
    "products",
];
const TICKET_FILTERS: &[Filter] = &[
    ("departmentId", "departmentId", Match::Equals),
    ("status", "status", Match::Equals),
    ("priority", "priority", Match::Equals),
    ("assignee", "assigneeId", Match::Assignee),
    ("channel", "channel", Match::Equals),
    ("contactId", "contactId", Match::Equals),
];
const TICKET_SEARCH: &[Filter] = &[
    ("subject", "subject", Match::Contains),
    ("email", "email", Match::Equals),
    ("status", "status", Match::Equals),
    ("priority", "priority", Match::Equals),
    ("departmentId", "departmentId", Match::Equals),
    ("ticketNumber", "ticketNumber", Match::Equals),
    ("assigneeId", "assigneeId", Match::Equals),
    ("channel", "channel", Match::Equals),
    ("contactId", "contactId", Match::Equals),
];

/// Adds the objects `include` asks for (`contact`, `assignee`, `department`) to a ticket.
fn include_on_ticket(portal: &Portal, mut ticket: Obj, include: &[&str]) -> Obj {
    let contact = portal.contact(text(&ticket, "contactId"));
    if include.contains(&"contacts") {
        let summary = contact.map(|c| {
            let account = portal.account(text(c, "accountId"));
            json!({
                "id": c["id"], "firstName": c["firstName"], "lastName": c["lastName"],
                "email": c["email"], "phone": c["phone"], "mobile": c["mobile"],
                "type": c["type"], "isSpam": c["isSpam"],
                "account": account.map(|a| json!({ "id": a["id"], "accountName": a["accountName"], "website": a["website"] })),
            })
        });
        ticket.insert("contact".into(), json!(summary));
    }
    if include.contains(&"assignee") {
        let assignee = portal.agent(text(&ticket, "assigneeId")).map(|a| {
            json!({
                "id": a["id"], "firstName": a["firstName"], "lastName": a["lastName"],
                "email": a["emailId"], "photoURL": a["photoURL"],
            })
        });
        ticket.insert("assignee".into(), json!(assignee));
    }
    if include.contains(&"departments") {
        let department = portal
            .department(text(&ticket, "departmentId"))
            .map(|d| json!({ "id": d["id"], "name": d["name"] }));
        ticket.insert("department".into(), json!(department));
    }
    ticket
}

pub(crate) fn list_tickets(portal: &mut Portal, call: &Call) -> Reply {
    let include = call.include(TICKET_INCLUDES)?;
    let tickets = portal.live_tickets().map(|t| &t.fields);
    let (_, rows) = list(tickets, call, TICKET_FILTERS, TICKET_SORTS, 100)?;
    let portal = &*portal;
    let rows = rows
        .into_iter()
        .map(|t| Value::Object(include_on_ticket(portal, t, &include)))
        .collect();
    Ok(page(rows))
}

pub(crate) fn search_tickets(portal: &mut Portal, call: &Call) -> Reply {
    let tickets = portal.live_tickets().map(|t| &t.fields);
    let (count, rows) = list(tickets, call, TICKET_SEARCH, TICKET_SORTS, 100)?;
    Ok(search_page(count, values(rows)))
}

pub(crate) fn get_ticket(portal: &mut Portal, call: &Call) -> Reply {
    let include = call.include(TICKET_INCLUDES)?;
    let ticket = portal.ticket(call.id()).ok_or_else(not_found)?;
    one(include_on_ticket(portal, ticket.fields.clone(), &include))
}

pub(crate) fn create_ticket(portal: &mut Portal, call: &Call) -> Reply {
    let body = call.object()?;
    let mut problems = Problems::default();
    check_ticket(portal, &body, true, &mut problems);
    let pick = pick_contact(portal, &body, &mut problems);
    problems.finish()?;
    let contact_id = match pick {
        Some(ContactPick::Existing(id)) => id,
        Some(ContactPick::New(contact)) => {
            text(&portal.create_contact(contact, call.now_ms), "id").to_owned()
        }
        // Unreachable: no pick means a recorded problem, answered above.
        None => {
            return Err(error(
                500,
                "INTERNAL_SERVER_ERROR",
                "No contact for the ticket.",
            ));
        }
    };
    one(portal.create_ticket(body, &contact_id, call.now_ms))
}

pub(crate) fn update_ticket(portal: &mut Portal, call: &Call) -> Reply {
    let body = call.object()?;
    portal.ticket(call.id()).ok_or_else(not_found)?;
    let mut problems = Problems::default();
    check_ticket(portal, &body, false, &mut problems);
    problems.finish()?;
    one(portal
        .update_ticket(call.id(), body, call.now_ms)
        .ok_or_else(not_found)?)
}

/// `POST /tickets/moveToTrash`: all the ids or none.
pub(crate) fn trash_tickets(portal: &mut Portal, call: &Call) -> Reply {
    let body = call.object()?;
    let mut problems = Problems::default();
    let ids: Vec<String> = match body.get("ticketIds") {
        None | Some(Value::Null) => {
            problems.missing("ticketIds");
            Vec::new()
        }
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| {
                let id = item.as_str().filter(|id| portal.ticket(id).is_some());
                if id.is_none() {
                    problems.invalid(&format!("ticketIds/{i}"), "No such ticket.");
                }
                id.map(str::to_owned)
            })
            .collect(),
        Some(_) => {
            problems.invalid(
                "ticketIds",
                "The field 'ticketIds' must be a non-empty array of ids.",
            );
            Vec::new()
        }
    };
    problems.finish()?;
    for id in ids {
        if let Some(ticket) = portal.ticket_mut(&id) {
            ticket.trashed = true;
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Threads are listed without `content` (as Zoho lists them); get one for its body.
pub(crate) fn list_threads(portal: &mut Portal, call: &Call) -> Reply {
    let ticket = portal.ticket(call.id()).ok_or_else(not_found)?;
    let (_, rows) = list(ticket.threads.iter(), call, &[], &[], 200)?;
    let rows = rows
        .into_iter()
        .map(|mut thread| {
            thread.remove("content");
            Value::Object(thread)
        })
        .collect();
    Ok(page(rows))
}

pub(crate) fn get_thread(portal: &mut Portal, call: &Call) -> Reply {
    let ticket = portal.ticket(call.id()).ok_or_else(not_found)?;
    let thread = ticket
        .threads
        .iter()
        .find(|t| text(t, "id") == call.params[1])
        .ok_or_else(not_found)?;
    one(thread.clone())
}

pub(crate) fn list_comments(portal: &mut Portal, call: &Call) -> Reply {
    let ticket = portal.ticket(call.id()).ok_or_else(not_found)?;
    let (_, rows) = list(ticket.comments.iter(), call, &[], &["commentedTime"], 100)?;
    Ok(page(values(rows)))
}

pub(crate) fn create_comment(portal: &mut Portal, call: &Call) -> Reply {
    let body = call.object()?;
    portal.ticket(call.id()).ok_or_else(not_found)?;
    let mut problems = Problems::default();
    check_text(&body, "content", true, &mut problems);
    let public = match body.get("isPublic") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(public)) => *public,
        Some(_) => {
            problems.invalid("isPublic", "The field 'isPublic' must be a boolean.");
            false
        }
    };
    let content_type = match body.get("contentType").and_then(Value::as_str) {
        None => "plainText",
        Some(kind @ ("plainText" | "html")) => kind,
        Some(_) => {
            problems.invalid(
                "contentType",
                "The field 'contentType' must be plainText or html.",
            );
            "plainText"
        }
    };
    problems.finish()?;
    let content = text(&body, "content").to_owned();
    let comment = portal
        .add_comment(call.id(), content, content_type, public, call.now_ms)
        .ok_or_else(not_found)?;
    one(comment)
}

/// Newest event first.
pub(crate) fn history(portal: &mut Portal, call: &Call) -> Reply {
    let ticket = portal.ticket(call.id()).ok_or_else(not_found)?;
    let (_, rows) = list(ticket.history.iter().rev(), call, &[], &[], 100)?;
    Ok(page(values(rows)))
}

// ---- contacts ---------------------------------------------------------------------------

const CONTACT_SORTS: &[&str] = &[
    "createdTime",
    "modifiedTime",
    "firstName",
    "lastName",
    "email",
];
const CONTACT_SEARCH: &[Filter] = &[
    ("email", "email", Match::Equals),
    ("firstName", "firstName", Match::Contains),
    ("lastName", "lastName", Match::Contains),
    ("phone", "phone", Match::Contains),
    ("mobile", "mobile", Match::Contains),
    ("accountId", "accountId", Match::Equals),
    ("type", "type", Match::Equals),
];

/// Adds `account` to a contact when `include=accounts`.
fn include_on_contact(portal: &Portal, mut contact: Obj, include: &[&str]) -> Obj {
    if include.contains(&"accounts") {
        let account = portal.account(text(&contact, "accountId")).map(
            |a| json!({ "id": a["id"], "accountName": a["accountName"], "website": a["website"] }),
        );
        contact.insert("account".into(), json!(account));
    }
    contact
}

pub(crate) fn list_contacts(portal: &mut Portal, call: &Call) -> Reply {
    let include = call.include(&["accounts"])?;
    let (_, rows) = list(portal.contacts.iter(), call, &[], CONTACT_SORTS, 100)?;
    let portal = &*portal;
    let rows = rows
        .into_iter()
        .map(|c| Value::Object(include_on_contact(portal, c, &include)))
        .collect();
    Ok(page(rows))
}

pub(crate) fn search_contacts(portal: &mut Portal, call: &Call) -> Reply {
    let (count, rows) = list(
        portal.contacts.iter(),
        call,
        CONTACT_SEARCH,
        CONTACT_SORTS,
        100,
    )?;
    Ok(search_page(count, values(rows)))
}

pub(crate) fn get_contact(portal: &mut Portal, call: &Call) -> Reply {
    let include = call.include(&["accounts"])?;
    let contact = portal.contact(call.id()).ok_or_else(not_found)?.clone();
    one(include_on_contact(portal, contact, &include))
}

pub(crate) fn create_contact(portal: &mut Portal, call: &Call) -> Reply {
    let body = call.object()?;
    let mut problems = Problems::default();
    check_contact(portal, &body, None, &mut problems);
    problems.finish()?;
    one(portal.create_contact(body, call.now_ms))
}

pub(crate) fn update_contact(portal: &mut Portal, call: &Call) -> Reply {
    let body = call.object()?;
    portal.contact(call.id()).ok_or_else(not_found)?;
    let mut problems = Problems::default();
    check_contact(portal, &body, Some(call.id()), &mut problems);
    problems.finish()?;
    one(portal
        .update_contact(call.id(), body, call.now_ms)
        .ok_or_else(not_found)?)
}
