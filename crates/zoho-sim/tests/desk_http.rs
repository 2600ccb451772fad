//! The Desk half of the emulator exercised over real HTTP, as a client sees it
//! (`docs/zoho-behaviour.md` §4–5). Tokens come from the Accounts half's token endpoint.

mod common;

use std::collections::HashSet;
use std::time::{Duration, UNIX_EPOCH};

use common::{client, start_with, start_with_live_token_cap};
use reqwest::Method;
use serde_json::{Value, json};
use zoho_sim::{
    DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REFRESH_TOKEN, Fault, RefreshGrant, Route,
    SEEDED_ACCOUNTS, SEEDED_AGENTS, SEEDED_CONTACTS, SEEDED_DEPARTMENTS, SEEDED_TICKETS, SimConfig,
    SimHandle, Times, TokenStatus,
};

/// One HTTP answer, read in full.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    async fn read(response: reqwest::Response) -> Self {
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.expect("response body"),
        }
    }

    fn json(&self) -> Value {
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "expected JSON, got {self:?}"
        );
        serde_json::from_str(&self.body).expect("JSON body")
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    fn header_u64(&self, name: &str) -> u64 {
        self.header(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no numeric {name} header: {self:?}"))
    }

    /// The rows of a `{"data":[…]}` page, after checking it is a 200.
    fn data(&self) -> Vec<Value> {
        assert_eq!(self.status, 200, "{self:?}");
        self.json()["data"].as_array().expect("data array").clone()
    }

    /// Asserts a Zoho error body with this status and code.
    fn assert_error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{self:?}");
        let body = self.json();
        assert_eq!(body["errorCode"], code, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        body
    }

    fn assert_no_content(&self) {
        assert_eq!(self.status, 204, "{self:?}");
        assert!(self.body.is_empty(), "204 has no body: {self:?}");
    }
}

/// A Desk client in the simplest terms: base URL, token, orgId.
struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
    org: Option<String>,
}

impl Api {
    async fn send(&self, method: Method, path: &str, body: Option<&str>) -> Answer {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Zoho-oauthtoken {token}"));
        }
        if let Some(org) = &self.org {
            request = request.header("orgId", org);
        }
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_owned());
        }
        Answer::read(request.send().await.expect("desk request")).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(Method::POST, path, Some(&body.to_string())).await
    }

    async fn patch(&self, path: &str, body: Value) -> Answer {
        self.send(Method::PATCH, path, Some(&body.to_string()))
            .await
    }
}

/// An access token minted through the token endpoint from `refresh_token`.
async fn mint(sim: &SimHandle, refresh_token: &str) -> String {
    let response = client()
        .post(format!("{}/oauth/v2/token", sim.accounts_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", DEFAULT_CLIENT_ID),
            ("client_secret", DEFAULT_CLIENT_SECRET),
            ("refresh_token", refresh_token),
        ])
        .send()
        .await
        .expect("token request");
    let body: Value = response.json().await.expect("token JSON");
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token: {body}"))
        .to_owned()
}

/// A client of `sim` with a fresh token of the seeded grant and the right orgId.
async fn api(sim: &SimHandle) -> Api {
    Api {
        client: client(),
        base: sim.desk_url(),
        token: Some(mint(sim, DEFAULT_REFRESH_TOKEN).await),
        org: Some(sim.desk_org_id()),
    }
}

async fn setup() -> (SimHandle, Api) {
    let sim = start_with(SimConfig::default()).await;
    let api = api(&sim).await;
    (sim, api)
}

fn is_digits(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

/// `2016-06-21T16:16:16.000Z`.
fn is_iso_millis(value: &Value) -> bool {
    let Some(s) = value.as_str() else {
        return false;
    };
    let shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    s.len() == shape.len()
        && s.bytes().zip(shape.bytes()).all(|(c, p)| {
            if p == b'd' {
                c.is_ascii_digit()
            } else {
                c == p
            }
        })
}

async fn first_ticket(api: &Api) -> Value {
    api.get("/tickets?limit=1").await.data()[0].clone()
}

async fn department_id(api: &Api) -> String {
    api.get("/departments").await.data()[0]["id"]
        .as_str()
        .expect("department id")
        .to_owned()
}

async fn contact(api: &Api) -> Value {
    api.get("/contacts?limit=1").await.data()[0].clone()
}

// ---- shapes and happy paths -----------------------------------------------------------------

#[tokio::test]
async fn organizations_needs_no_org_header_and_the_basic_lists_are_seeded() {
    let (sim, mut api) = setup().await;
    api.org = None;
    let orgs = api.get("/organizations").await.data();
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["id"], sim.desk_org_id());
    assert_eq!(sim.desk_org_id(), "60000000001");
    assert!(is_digits(&orgs[0]["id"]));
    assert_eq!(orgs[0]["isDefault"], true);
    for field in ["companyName", "portalName", "edition"] {
        assert!(orgs[0][field].is_string(), "{field}: {}", orgs[0]);
    }

    api.org = Some(sim.desk_org_id());
    let departments = api.get("/departments").await.data();
    assert_eq!(departments.len(), SEEDED_DEPARTMENTS);
    assert!(
        departments
            .iter()
            .all(|d| is_digits(&d["id"]) && d["name"].is_string())
    );

    let agents = api.get("/agents").await.data();
    assert_eq!(agents.len(), SEEDED_AGENTS);
    let agent_id = agents[2]["id"].as_str().expect("agent id");
    let agent = api.get(&format!("/agents/{agent_id}")).await;
    assert_eq!(agent.status, 200);
    assert_eq!(agent.json(), agents[2]);

    // Default limit is 10.
    assert_eq!(api.get("/accounts").await.data().len(), 10);
    let accounts = api.get("/accounts?limit=100").await.data();
    assert_eq!(accounts.len(), SEEDED_ACCOUNTS);
    let account_id = accounts[5]["id"].as_str().expect("account id");
    let account = api.get(&format!("/accounts/{account_id}")).await.json();
    assert_eq!(account["id"], account_id);
    assert!(account["cf"]["cf_tier"].is_string(), "{account}");
    assert!(is_iso_millis(&account["createdTime"]));
}

#[tokio::test]
async fn tickets_have_zoho_shapes_and_unknown_fields() {
    let (_sim, api) = setup().await;
    let tickets = api.get("/tickets?limit=50").await.data();
    assert_eq!(tickets.len(), 50);
    for ticket in &tickets {
        for field in [
            "id",
            "ticketNumber",
            "threadCount",
            "commentCount",
            "departmentId",
            "contactId",
        ] {
            assert!(
                is_digits(&ticket[field]),
                "{field} is a string of digits: {ticket}"
            );
        }
        for field in ["createdTime", "modifiedTime"] {
            assert!(is_iso_millis(&ticket[field]), "{field}: {ticket}");
        }
        let status = ticket["status"].as_str().expect("status");
        let expected_type = match status {
            "Open" | "Escalated" => "Open",
            "On Hold" => "On Hold",
            "Closed" => "Closed",
            other => panic!("unexpected status {other}"),
        };
        assert_eq!(ticket["statusType"], expected_type);
        assert_eq!(
            ticket["closedTime"].is_string(),
            status == "Closed",
            "{ticket}"
        );
        assert!(ticket["dueDate"].is_null() || is_iso_millis(&ticket["dueDate"]));
        let threads: u64 = ticket["threadCount"].as_str().unwrap().parse().unwrap();
        let comments: u64 = ticket["commentCount"].as_str().unwrap().parse().unwrap();
        assert!((1..=3).contains(&threads) && comments <= 2, "{ticket}");
        // Fields a client does not model, which it must carry.
        assert!(ticket["layoutId"].is_string());
        assert_eq!(ticket["isArchived"], false);
        assert!(ticket["sentiment"].is_string());
        assert!(ticket["customFields"]["Region"].is_string());
        assert_eq!(ticket["cf"]["cf_region"], ticket["customFields"]["Region"]);
        let id = ticket["id"].as_str().unwrap();
        assert!(ticket["webUrl"].as_str().unwrap().ends_with(id));
        assert!(ticket["subject"].is_string() && ticket["email"].is_string());
    }

    let id = tickets[7]["id"].as_str().unwrap();
    let one = api.get(&format!("/tickets/{id}")).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json(), tickets[7]);

    let included = api
        .get(&format!(
            "/tickets/{id}?include=contacts,assignee,departments"
        ))
        .await
        .json();
    assert_eq!(included["contact"]["id"], tickets[7]["contactId"]);
    assert_eq!(included["department"]["id"], tickets[7]["departmentId"]);
    // `null` when the ticket is unassigned.
    assert_eq!(included["assignee"]["id"], tickets[7]["assigneeId"]);

    let trimmed = api
        .get("/tickets?limit=3&fields=subject,status")
        .await
        .data();
    for ticket in trimmed {
        let keys: HashSet<&str> = ticket
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys, HashSet::from(["id", "subject", "status"]));
    }
    assert_eq!(
        api.get("/tickets?include=nonsense").await.status,
        422,
        "unknown include values are refused"
    );
}

#[tokio::test]
async fn lists_page_with_from_and_limit_and_end_with_204() {
    let (sim, api) = setup().await;
    assert_eq!(sim.ticket_count(), SEEDED_TICKETS);
    let mut sizes = Vec::new();
    let mut ids = HashSet::new();
    for from in (0..).step_by(100) {
        let answer = api.get(&format!("/tickets?from={from}&limit=100")).await;
        if answer.status == 204 {
            answer.assert_no_content();
            break;
        }
        let rows = answer.data();
        sizes.push(rows.len());
        ids.extend(rows.iter().map(|t| t["id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(sizes, [100, 100, 50]);
    assert_eq!(ids.len(), SEEDED_TICKETS);

    // Contacts fill exactly two pages: the third is past the end.
    assert_eq!(sim.contact_count(), SEEDED_CONTACTS);
    assert_eq!(
        api.get("/contacts?from=0&limit=100").await.data().len(),
        100
    );
    assert_eq!(
        api.get("/contacts?from=100&limit=100").await.data().len(),
        100
    );
    api.get("/contacts?from=200&limit=100")
        .await
        .assert_no_content();
    api.get("/tickets?from=5000").await.assert_no_content();
}

#[tokio::test]
async fn limit_outside_its_range_is_422_with_zohos_message() {
    let (_sim, api) = setup().await;
    let ticket = first_ticket(&api).await;
    let id = ticket["id"].as_str().unwrap();
    let expected = |range: &str| {
        json!({
            "errorCode": "UNPROCESSABLE_ENTITY",
            "message": format!("The value passed for field 'limit' exceeds the range of '{range}'."),
        })
    };
    for path in [
        "/tickets?limit=0",
        "/tickets?limit=101",
        "/contacts?limit=101",
        "/accounts?limit=0",
        "/agents?limit=101",
        "/departments?limit=0",
        "/tickets/search?subject=login&limit=101",
        "/contacts/search?lastName=a&limit=0",
        "/tickets?limit=-5",
    ] {
        let answer = api.get(path).await;
        assert_eq!(answer.status, 422, "{path}");
        assert_eq!(answer.json(), expected("1-100"), "{path}");
    }
    let threads = api.get(&format!("/tickets/{id}/threads?limit=201")).await;
    assert_eq!(threads.status, 422);
    assert_eq!(threads.json(), expected("1-200"));
    assert_eq!(
        api.get(&format!("/tickets/{id}/threads?limit=200"))
            .await
            .status,
        200
    );
    assert_eq!(api.get("/tickets?limit=100").await.data().len(), 100);
    api.get("/tickets?from=x")
        .await
        .assert_error(422, "UNPROCESSABLE_ENTITY");
}

#[tokio::test]
async fn ticket_lists_filter_and_sort() {
    let (_sim, api) = setup().await;
    let all: Vec<Value> = {
        let mut rows = Vec::new();
        for from in [0, 100, 200] {
            rows.extend(
                api.get(&format!("/tickets?from={from}&limit=100"))
                    .await
                    .data(),
            );
        }
        rows
    };
    let closed = all.iter().filter(|t| t["status"] == "Closed").count();
    let listed = api.get("/tickets?status=Closed&limit=100").await.data();
    assert!(closed > 0);
    assert_eq!(listed.len(), closed.min(100));
    assert!(listed.iter().all(|t| t["status"] == "Closed"));

    let department = department_id(&api).await;
    let in_department = api
        .get(&format!("/tickets?departmentId={department}&limit=100"))
        .await
        .data();
    assert!(!in_department.is_empty());
    assert!(
        in_department
            .iter()
            .all(|t| t["departmentId"] == department.as_str())
    );

    let unassigned = all.iter().filter(|t| t["assigneeId"].is_null()).count();
    let listed = api
        .get("/tickets?assignee=Unassigned&limit=100")
        .await
        .data();
    assert_eq!(listed.len(), unassigned);

    let newest_first = api
        .get("/tickets?sortBy=-createdTime&limit=100")
        .await
        .data();
    let times: Vec<&str> = newest_first
        .iter()
        .map(|t| t["createdTime"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "descending");
    let latest = all
        .iter()
        .map(|t| t["createdTime"].as_str().unwrap())
        .max()
        .unwrap();
    assert_eq!(times[0], latest);
    let by_modified = api
        .get("/tickets?sortBy=modifiedTime&limit=100")
        .await
        .data();
    let times: Vec<&str> = by_modified
        .iter()
        .map(|t| t["modifiedTime"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "ascending");
    api.get("/tickets?sortBy=colour")
        .await
        .assert_error(422, "UNPROCESSABLE_ENTITY");
}

#[tokio::test]
async fn ticket_search_matches_and_counts() {
    let (_sim, api) = setup().await;
    let answer = api
        .get("/tickets/search?subject=ZYLKER%20cloud&limit=5")
        .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let body = answer.json();
    let rows = body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert!(
        rows.iter()
            .all(|t| t["subject"].as_str().unwrap().contains("Zylker Cloud"))
    );
    let count: usize = body["count"]
        .as_str()
        .expect("count is a string")
        .parse()
        .unwrap();
    assert!(count > 5, "count is the total number of matches: {count}");
    let mut seen = 0;
    for from in (0..count).step_by(100) {
        seen += api
            .get(&format!(
                "/tickets/search?subject=zylker%20cloud&from={from}&limit=100"
            ))
            .await
            .data()
            .len();
    }
    assert_eq!(seen, count);

    let ticket = first_ticket(&api).await;
    let number = ticket["ticketNumber"].as_str().unwrap();
    let by_number = api
        .get(&format!("/tickets/search?ticketNumber={number}"))
        .await
        .json();
    assert_eq!(by_number["count"], "1");
    assert_eq!(by_number["data"][0]["id"], ticket["id"]);
    let email = ticket["email"].as_str().unwrap().to_uppercase();
    let by_email = api
        .get(&format!("/tickets/search?email={email}&limit=100"))
        .await
        .data();
    assert!(by_email.iter().any(|t| t["id"] == ticket["id"]));
    assert!(by_email.iter().all(|t| t["email"] == ticket["email"]));
    api.get("/tickets/search?subject=no-such-words-anywhere")
        .await
        .assert_no_content();
}

#[tokio::test]
async fn threads_comments_and_history() {
    let (_sim, api) = setup().await;
    let ticket = first_ticket(&api).await;
    let id = ticket["id"].as_str().unwrap();

    let threads = api.get(&format!("/tickets/{id}/threads")).await.data();
    assert_eq!(
        threads.len().to_string(),
        ticket["threadCount"].as_str().unwrap()
    );
    for thread in &threads {
        assert!(is_digits(&thread["id"]) && is_iso_millis(&thread["createdTime"]));
        assert!(thread["summary"].is_string() && thread["author"]["name"].is_string());
        assert!(thread["direction"] == "in" || thread["direction"] == "out");
        assert!(
            thread.get("content").is_none(),
            "lists carry summaries only"
        );
    }
    assert_eq!(threads[0]["direction"], "in");
    let thread_id = threads[0]["id"].as_str().unwrap();
    let full = api
        .get(&format!("/tickets/{id}/threads/{thread_id}"))
        .await
        .json();
    assert_eq!(full["id"], thread_id);
    assert!(full["content"].as_str().unwrap().contains("<div>"));
    api.get(&format!("/tickets/{id}/threads/1"))
        .await
        .assert_error(404, "URL_NOT_FOUND");

    let before: usize = ticket["commentCount"].as_str().unwrap().parse().unwrap();
    let created = api
        .post(
            &format!("/tickets/{id}/comments"),
            json!({ "content": "Escalating to engineering.", "isPublic": true }),
        )
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    let comment = created.json();
    assert!(is_digits(&comment["id"]) && is_iso_millis(&comment["commentedTime"]));
    assert_eq!(comment["isPublic"], true);
    assert_eq!(comment["content"], "Escalating to engineering.");
    assert!(comment["commenter"]["name"].is_string());

    let comments = api
        .get(&format!("/tickets/{id}/comments?limit=100"))
        .await
        .data();
    assert_eq!(comments.len(), before + 1);
    assert_eq!(comments.last().unwrap()["id"], comment["id"]);
    let after = api.get(&format!("/tickets/{id}")).await.json();
    assert_eq!(after["commentCount"], (before + 1).to_string());

    let missing = api
        .post(
            &format!("/tickets/{id}/comments"),
            json!({ "isPublic": "yes" }),
        )
        .await
        .assert_error(422, "INVALID_DATA");
    let fields: HashSet<(&str, &str)> = missing["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["fieldName"].as_str().unwrap(),
                e["errorType"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        fields,
        HashSet::from([("/content", "missing"), ("/isPublic", "invalid")])
    );

    let history = api.get(&format!("/tickets/{id}/History")).await.data();
    assert_eq!(history[0]["eventName"], "CommentAdded", "newest first");
    assert_eq!(history.last().unwrap()["eventName"], "TicketCreated");
    assert!(
        history
            .iter()
            .all(|e| is_iso_millis(&e["eventTime"]) && e["actor"]["name"].is_string())
    );

    for path in ["threads", "comments", "History"] {
        api.get(&format!("/tickets/1/{path}"))
            .await
            .assert_error(404, "URL_NOT_FOUND");
    }
}

// ---- writes -----------------------------------------------------------------------------

#[tokio::test]
async fn created_tickets_keep_unknown_fields_and_patches_merge() {
    let (sim, api) = setup().await;
    let department = department_id(&api).await;
    let contact = contact(&api).await;
    let created = api
        .post(
            "/tickets",
            json!({
                "subject": "Printer on fire",
                "departmentId": department,
                "contactId": contact["id"],
                "priority": "High",
                "cf": { "cf_region": "EMEA", "cf_severity": "S1" },
                "futureField": { "nested": [1, 2] },
                "id": "999",
            }),
        )
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    let ticket = created.json();
    let id = ticket["id"].as_str().unwrap().to_owned();
    assert!(
        is_digits(&ticket["id"]) && id != "999",
        "the server assigns ids"
    );
    assert!(is_digits(&ticket["ticketNumber"]));
    assert_eq!(ticket["status"], "Open");
    assert_eq!(ticket["email"], contact["email"]);
    assert_eq!(ticket["threadCount"], "0");
    assert!(is_iso_millis(&ticket["createdTime"]));
    assert_eq!(ticket["futureField"], json!({ "nested": [1, 2] }));
    assert_eq!(
        ticket["cf"],
        json!({ "cf_region": "EMEA", "cf_severity": "S1" })
    );
    assert_eq!(api.get(&format!("/tickets/{id}")).await.json(), ticket);
    assert_eq!(sim.ticket_count(), SEEDED_TICKETS + 1);
    assert_eq!(sim.tickets_with_subject("Printer on fire"), 1);

    // Stamped by the emulator's clock, which runs after every seeded record.
    let newest = api.get("/tickets?sortBy=-createdTime&limit=1").await.data();
    assert_eq!(newest[0]["id"], ticket["id"]);

    let patched = api
        .patch(
            &format!("/tickets/{id}"),
            json!({ "status": "Closed", "cf": { "cf_severity": "S3" }, "anotherNew": true }),
        )
        .await;
    assert_eq!(patched.status, 200, "{patched:?}");
    let patched = patched.json();
    assert_eq!(patched["status"], "Closed");
    assert_eq!(patched["statusType"], "Closed");
    assert!(is_iso_millis(&patched["closedTime"]));
    assert_eq!(
        patched["cf"],
        json!({ "cf_region": "EMEA", "cf_severity": "S3" })
    );
    assert_eq!(patched["futureField"], ticket["futureField"]);
    assert_eq!(patched["anotherNew"], true);
    assert_eq!(patched["subject"], "Printer on fire");
    let history = api.get(&format!("/tickets/{id}/History")).await.data();
    assert_eq!(history[0]["eventName"], "TicketUpdated");
    assert_eq!(history.len(), 2);

    let reopened = api
        .patch(&format!("/tickets/{id}"), json!({ "status": "Open" }))
        .await
        .json();
    assert!(reopened["closedTime"].is_null());
    api.patch(
        &format!("/tickets/{id}"),
        json!({ "status": "Sleeping", "subject": "" }),
    )
    .await
    .assert_error(422, "INVALID_DATA");
    api.patch("/tickets/1", json!({ "status": "Open" }))
        .await
        .assert_error(404, "URL_NOT_FOUND");
}

#[tokio::test]
async fn a_contact_object_creates_a_contact_or_reuses_one_by_email() {
    let (sim, api) = setup().await;
    let department = department_id(&api).await;
    let created = api
        .post(
            "/tickets",
            json!({
                "subject": "New customer",
                "departmentId": department,
                "contact": { "lastName": "Lovelace", "email": "ada@analytical.example" },
            }),
        )
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    let ticket = created.json();
    assert_eq!(sim.contact_count(), SEEDED_CONTACTS + 1);
    let contact = api
        .get(&format!(
            "/contacts/{}",
            ticket["contactId"].as_str().unwrap()
        ))
        .await
        .json();
    assert_eq!(contact["lastName"], "Lovelace");
    assert_eq!(ticket["email"], "ada@analytical.example");

    let again = api
        .post(
            "/tickets",
            json!({
                "subject": "Same customer",
                "departmentId": department,
                "contact": { "email": "ADA@analytical.example" },
            }),
        )
        .await
        .json();
    assert_eq!(again["contactId"], ticket["contactId"]);
    assert_eq!(sim.contact_count(), SEEDED_CONTACTS + 1);
    assert_eq!(sim.ticket_count(), SEEDED_TICKETS + 2);
}

fn errors(body: &Value) -> HashSet<(String, String)> {
    body["errors"]
        .as_array()
        .expect("errors array")
        .iter()
        .map(|e| {
            assert!(e["errorMessage"].is_string(), "{e}");
            (
                e["fieldName"].as_str().unwrap().to_owned(),
                e["errorType"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> HashSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn invalid_creates_are_422_with_an_errors_array_and_create_nothing() {
    let (sim, api) = setup().await;
    let body = api
        .post("/tickets", json!({}))
        .await
        .assert_error(422, "INVALID_DATA");
    assert_eq!(
        errors(&body),
        pairs(&[
            ("/subject", "missing"),
            ("/departmentId", "missing"),
            ("/contactId", "missing")
        ])
    );

    let body = api
        .post(
            "/tickets",
            json!({ "subject": "x", "departmentId": "123", "contactId": "456", "assigneeId": "789" }),
        )
        .await
        .assert_error(422, "INVALID_DATA");
    assert_eq!(
        errors(&body),
        pairs(&[
            ("/departmentId", "invalid"),
            ("/contactId", "invalid"),
            ("/assigneeId", "invalid")
        ])
    );

    let department = department_id(&api).await;
    let body = api
        .post("/tickets", json!({ "subject": "x", "departmentId": department, "contact": { "firstName": "Solo" } }))
        .await
        .assert_error(422, "INVALID_DATA");
    assert_eq!(errors(&body), pairs(&[("/contact/lastName", "missing")]));

    let malformed = api
        .send(Method::POST, "/tickets", Some("{\"subject\": "))
        .await;
    assert_eq!(malformed.status, 422);
    assert!(malformed.json()["errorCode"].is_string());

    let body = api
        .post("/contacts", json!({ "firstName": "NoLast" }))
        .await
        .assert_error(422, "INVALID_DATA");
    assert_eq!(errors(&body), pairs(&[("/lastName", "missing")]));
    let existing = contact(&api).await;
    let body = api
        .post(
            "/contacts",
            json!({ "lastName": "Twin", "email": existing["email"] }),
        )
        .await
        .assert_error(422, "INVALID_DATA");
    assert_eq!(errors(&body), pairs(&[("/email", "duplicate")]));

    assert_eq!(sim.ticket_count(), SEEDED_TICKETS);
    assert_eq!(sim.contact_count(), SEEDED_CONTACTS);
}

#[tokio::test]
async fn move_to_trash_is_204_and_hides_the_tickets() {
    let (sim, api) = setup().await;
    let tickets = api.get("/tickets?limit=3").await.data();
    let ids: Vec<&str> = tickets.iter().map(|t| t["id"].as_str().unwrap()).collect();

    let refused = api
        .post(
            "/tickets/moveToTrash",
            json!({ "ticketIds": [ids[0], "1"] }),
        )
        .await
        .assert_error(422, "INVALID_DATA");
    assert_eq!(errors(&refused), pairs(&[("/ticketIds/1", "invalid")]));
    assert_eq!(sim.ticket_count(), SEEDED_TICKETS, "all or nothing");

    let trashed = api
        .post(
            "/tickets/moveToTrash",
            json!({ "ticketIds": [ids[0], ids[1]] }),
        )
        .await;
    trashed.assert_no_content();
    assert_eq!(sim.ticket_count(), SEEDED_TICKETS - 2);
    api.get(&format!("/tickets/{}", ids[0]))
        .await
        .assert_error(404, "URL_NOT_FOUND");
    assert_eq!(api.get("/tickets?limit=1").await.data()[0]["id"], ids[2]);
    let search = api
        .get(&format!(
            "/tickets/search?ticketNumber={}",
            tickets[0]["ticketNumber"].as_str().unwrap()
        ))
        .await;
    search.assert_no_content();
}

#[tokio::test]
async fn contacts_create_read_update_and_search() {
    let (sim, api) = setup().await;
    let account = api.get("/accounts?limit=1").await.data()[0]["id"].clone();
    let created = api
        .post(
            "/contacts",
            json!({
                "firstName": "Grace", "lastName": "Hopper", "email": "grace@navy.example",
                "accountId": account, "cf": { "cf_rank": "Rear Admiral" }, "nickname": "Amazing Grace",
            }),
        )
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    let contact = created.json();
    let id = contact["id"].as_str().unwrap().to_owned();
    assert!(is_digits(&contact["id"]) && is_iso_millis(&contact["createdTime"]));
    assert_eq!(contact["nickname"], "Amazing Grace");
    assert_eq!(contact["isSpam"], false);
    assert!(contact["webUrl"].as_str().unwrap().ends_with(&id));
    assert_eq!(sim.contact_count(), SEEDED_CONTACTS + 1);

    let with_account = api
        .get(&format!("/contacts/{id}?include=accounts"))
        .await
        .json();
    assert_eq!(with_account["account"]["id"], account);

    let patched = api
        .patch(
            &format!("/contacts/{id}"),
            json!({ "phone": "+1 555 0100", "cf": { "cf_navy": "yes" } }),
        )
        .await
        .json();
    assert_eq!(patched["phone"], "+1 555 0100");
    assert_eq!(
        patched["cf"],
        json!({ "cf_rank": "Rear Admiral", "cf_navy": "yes" })
    );
    assert_eq!(patched["lastName"], "Hopper");

    let found = api
        .get("/contacts/search?email=GRACE@navy.example")
        .await
        .json();
    assert_eq!(found["count"], "1");
    assert_eq!(found["data"][0]["id"], id.as_str());
    let by_name = api
        .get("/contacts/search?lastName=hopp&limit=100")
        .await
        .data();
    assert!(by_name.iter().any(|c| c["id"] == id.as_str()));
    api.get("/contacts/search?email=nobody@nowhere.example")
        .await
        .assert_no_content();
    api.get("/contacts/1")
        .await
        .assert_error(404, "URL_NOT_FOUND");

    let sorted = api.get("/contacts?sortBy=lastName&limit=100").await.data();
    let names: Vec<String> = sorted
        .iter()
        .map(|c| c["lastName"].as_str().unwrap().to_lowercase())
        .collect();
    assert!(names.windows(2).all(|w| w[0] <= w[1]));
}

// ---- what the emulator enforces -------------------------------------------------------------

#[tokio::test]
async fn missing_and_dead_tokens_are_401_with_zohos_bodies() {
    let sim = start_with_live_token_cap(2).await;
    let mut api = api(&sim).await;
    assert_eq!(api.get("/tickets?limit=1").await.status, 200);
    let good = api.token.clone();

    api.token = None;
    let missing = api.get("/tickets").await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.json(),
        json!({ "errorCode": "UNAUTHORIZED", "message": "You are not authenticated to perform this operation." })
    );
    let bearer = api
        .client
        .get(format!("{}/tickets", api.base))
        .header("Authorization", format!("Bearer {}", good.clone().unwrap()))
        .header("orgId", sim.desk_org_id())
        .send()
        .await
        .unwrap();
    assert_eq!(
        Answer::read(bearer).await.json()["errorCode"],
        "UNAUTHORIZED"
    );

    let invalid_oauth = json!({ "errorCode": "INVALID_OAUTH", "message": "The OAuth Token you provided is invalid." });
    api.token = Some("1000.bogus.token".to_owned());
    let bogus = api.get("/tickets").await;
    assert_eq!(bogus.status, 401);
    assert_eq!(bogus.json(), invalid_oauth);

    // Evicted: two more tokens from the same refresh token push the first out of the cap of 2.
    api.token = good.clone();
    mint(&sim, DEFAULT_REFRESH_TOKEN).await;
    mint(&sim, DEFAULT_REFRESH_TOKEN).await;
    assert_eq!(
        sim.introspect(good.as_deref().unwrap()),
        TokenStatus::Evicted
    );
    assert_eq!(api.get("/tickets").await.json(), invalid_oauth);

    // Invalidated server-side: the refresh token still works.
    api.token = Some(mint(&sim, DEFAULT_REFRESH_TOKEN).await);
    assert_eq!(sim.invalidate_access_tokens(), 2);
    let answer = api.get("/tickets").await;
    assert_eq!(answer.status, 401);
    assert_eq!(answer.json(), invalid_oauth);
    api.token = Some(mint(&sim, DEFAULT_REFRESH_TOKEN).await);
    assert_eq!(api.get("/tickets?limit=1").await.status, 200);

    // Expired.
    sim.advance_clock(Duration::from_secs(3600));
    assert_eq!(api.get("/tickets").await.json(), invalid_oauth);

    // Revoked.
    api.token = Some(mint(&sim, DEFAULT_REFRESH_TOKEN).await);
    assert_eq!(api.get("/tickets?limit=1").await.status, 200);
    assert!(sim.revoke_refresh_token(DEFAULT_REFRESH_TOKEN));
    assert_eq!(api.get("/tickets").await.json(), invalid_oauth);
    assert_eq!(sim.stats().count("GET /tickets", 401), 7);
}

#[tokio::test]
async fn org_header_is_required_and_checked() {
    let (sim, mut api) = setup().await;
    api.org = None;
    let missing = api.get("/tickets").await;
    assert_eq!(
        missing.json(),
        json!({ "errorCode": "INVALID_DATA", "message": "The orgId header is missing." })
    );
    assert_eq!(missing.status, 422);

    api.org = Some(sim.desk_other_org_id());
    api.get("/tickets")
        .await
        .assert_error(401, "OAUTH_ORG_MISMATCH");
    api.org = Some("12345".to_owned());
    let unknown = api.get("/tickets").await.assert_error(422, "INVALID_DATA");
    assert!(unknown["message"].as_str().unwrap().contains("orgId"));
    // Authentication comes first.
    api.token = None;
    api.get("/tickets").await.assert_error(401, "UNAUTHORIZED");
}

/// The emulator records the name of every header that reaches Desk, so a test of a client can
/// prove that a header (a caller's cookie, say) was never forwarded.
#[tokio::test]
async fn every_header_name_that_reaches_desk_is_recorded() {
    let (sim, api) = setup().await;
    api.get("/tickets?limit=1").await;
    let seen = sim.stats().desk_header_names;
    for name in ["authorization", "orgid"] {
        assert!(seen.contains(name), "{name} missing from {seen:?}");
    }
    assert!(!seen.contains("cookie"), "{seen:?}");

    let response = client()
        .get(format!("{}/agents", sim.desk_url()))
        .header("Cookie", "session=1")
        .send()
        .await
        .expect("desk request");
    assert_eq!(response.status(), 401, "no token: refused, but seen");
    assert!(sim.stats().desk_header_names.contains("cookie"));
}

#[tokio::test]
async fn scopes_are_enforced_with_401_scope_mismatch() {
    let sim = start_with(SimConfig::default()).await;
    let grant = |token: &str, scopes: &[&str]| RefreshGrant {
        client_id: DEFAULT_CLIENT_ID.to_owned(),
        refresh_token: token.to_owned(),
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
    };
    sim.add_grant(grant("1000.basic.only", &["Desk.basic.READ"]));
    sim.add_grant(grant(
        "1000.tickets.read",
        &["Desk.tickets.READ", "Desk.basic.READ"],
    ));
    let mut api = api(&sim).await;

    api.token = Some(mint(&sim, "1000.basic.only").await);
    assert_eq!(api.get("/agents").await.status, 200);
    assert_eq!(api.get("/departments").await.status, 200);
    for path in ["/tickets", "/contacts", "/accounts"] {
        api.get(path).await.assert_error(401, "SCOPE_MISMATCH");
    }

    api.token = Some(mint(&sim, "1000.tickets.read").await);
    let ticket = first_ticket(&api).await;
    let department = department_id(&api).await;
    let body = api
        .post(
            "/tickets",
            json!({ "subject": "x", "departmentId": department, "contactId": ticket["contactId"] }),
        )
        .await
        .assert_error(401, "SCOPE_MISMATCH");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("Desk.tickets.CREATE")
    );
    api.patch(
        &format!("/tickets/{}", ticket["id"].as_str().unwrap()),
        json!({}),
    )
    .await
    .assert_error(401, "SCOPE_MISMATCH");
    // Search needs Desk.search.READ as well as the area.
    let search = api
        .get("/tickets/search?subject=a")
        .await
        .assert_error(401, "SCOPE_MISMATCH");
    assert!(
        search["message"]
            .as_str()
            .unwrap()
            .contains("Desk.search.READ")
    );
    assert_eq!(sim.ticket_count(), SEEDED_TICKETS);
}

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405() {
    let (sim, api) = setup().await;
    let ticket = first_ticket(&api).await;
    let id = ticket["id"].as_str().unwrap();
    api.send(Method::DELETE, &format!("/tickets/{id}"), None)
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    api.get("/tickets/moveToTrash")
        .await
        .assert_error(405, "METHOD_NOT_ALLOWED");
    let not_found = api.get("/widgets").await;
    assert_eq!(
        not_found.json(),
        json!({ "errorCode": "URL_NOT_FOUND", "message": "The requested resource could not be found." })
    );
    api.get("/tickets/1")
        .await
        .assert_error(404, "URL_NOT_FOUND");
    assert_eq!(sim.stats().count("DELETE /tickets/{id}", 405), 1);
    assert_eq!(sim.stats().count("GET /tickets/moveToTrash", 405), 1);
    assert_eq!(sim.stats().count("GET *", 404), 1);
    assert_eq!(sim.stats().count("GET /tickets/{id}", 404), 1);
}

#[tokio::test]
async fn credits_are_charged_and_run_out_until_utc_midnight() {
    let (sim, mut api) = setup().await;
    assert_eq!(sim.desk_credits_remaining(), 77_500);
    sim.set_desk_daily_credits(5);

    let list = api.get("/tickets?limit=1").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.header_u64("x-rate-limit-request-weight-v3"), 3);
    assert_eq!(list.header_u64("x-rate-limit-remaining-v3"), 2);
    let id = list.data()[0]["id"].as_str().unwrap().to_owned();
    let one = api.get(&format!("/tickets/{id}")).await;
    assert_eq!(one.header_u64("x-rate-limit-request-weight-v3"), 1);
    assert_eq!(one.header_u64("x-rate-limit-remaining-v3"), 1);
    assert_eq!(sim.desk_credits_remaining(), 1);

    let refused = api.get("/tickets?limit=1").await;
    refused.assert_error(429, "THRESHOLD_EXCEEDED");
    assert_eq!(refused.header_u64("x-rate-limit-request-weight-v3"), 0);
    assert_eq!(refused.header_u64("x-rate-limit-remaining-v3"), 1);
    let retry_after = refused.header_u64("retry-after");
    let wall_secs = sim.wall_now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let to_midnight = 86_400 - wall_secs % 86_400;
    assert!(
        retry_after.abs_diff(to_midnight) <= 2,
        "Retry-After {retry_after} s is the time to the next UTC midnight ({to_midnight} s)"
    );
    assert_eq!(sim.stats().desk_threshold_exceeded, 1);

    // Past midnight the budget is back (and the old token long expired).
    sim.advance_clock(Duration::from_secs(retry_after + 1));
    assert_eq!(sim.desk_credits_remaining(), 5);
    api.token = Some(mint(&sim, DEFAULT_REFRESH_TOKEN).await);
    let again = api.get("/tickets?limit=1").await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header_u64("x-rate-limit-remaining-v3"), 2);
}

#[tokio::test]
async fn every_desk_answer_carries_the_rate_limit_headers() {
    let (_sim, mut api) = setup().await;
    let answers = [
        api.get("/organizations").await,
        api.get("/tickets/1").await,
        api.get("/tickets?limit=0").await,
        api.get("/nowhere").await,
    ];
    for answer in &answers {
        assert!(
            answer.header("x-rate-limit-request-weight-v3").is_some(),
            "{answer:?}"
        );
        assert!(
            answer.header("x-rate-limit-remaining-v3").is_some(),
            "{answer:?}"
        );
    }
    assert_eq!(answers[0].header_u64("x-rate-limit-request-weight-v3"), 1);
    api.token = None;
    let unauthenticated = api.get("/tickets").await;
    assert_eq!(
        unauthenticated.header_u64("x-rate-limit-request-weight-v3"),
        0
    );
    assert_eq!(
        unauthenticated.header_u64("x-rate-limit-remaining-v3"),
        answers[3].header_u64("x-rate-limit-remaining-v3"),
        "refused requests cost nothing"
    );
}

/// Fires `n` identical GETs at once and returns their statuses and error codes.
async fn burst(api: &Api, path: &str, n: usize) -> Vec<(u16, String)> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let client = api.client.clone();
        let url = format!("{}{path}", api.base);
        let token = api.token.clone().unwrap();
        let org = api.org.clone().unwrap();
        tasks.spawn(async move {
            let response = client
                .get(url)
                .header("Authorization", format!("Zoho-oauthtoken {token}"))
                .header("orgId", org)
                .send()
                .await
                .expect("request");
            let answer = Answer::read(response).await;
            let code = if answer.status == 200 {
                String::new()
            } else {
                answer.json()["errorCode"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            };
            (answer.status, code)
        });
    }
    let mut results = Vec::new();
    while let Some(result) = tasks.join_next().await {
        results.push(result.expect("task"));
    }
    results.sort();
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_over_the_concurrency_limit_get_429_too_many_requests() {
    let (sim, api) = setup().await;
    sim.set_desk_concurrency_limit(2);
    // Hold admitted requests in flight long enough for the whole burst to arrive.
    sim.inject(
        Route::Desk,
        Fault::latency(Duration::from_millis(700)),
        Times::Always,
    );
    let results = burst(&api, "/agents", 5).await;
    let ok = (200, String::new());
    let refused = (429, "TOO_MANY_REQUESTS".to_owned());
    assert_eq!(
        results,
        [ok.clone(), ok, refused.clone(), refused.clone(), refused]
    );
    assert_eq!(sim.stats().desk_too_many_requests, 3);
    assert_eq!(sim.stats().count("GET /agents", 429), 3);
    assert!(
        (3..=5).contains(&sim.desk_peak_concurrency()),
        "{}",
        sim.desk_peak_concurrency()
    );

    sim.clear_faults();
    assert_eq!(api.get("/agents").await.status, 200, "slots are released");
    assert_eq!(sim.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn peak_concurrency_is_tracked_under_the_limit() {
    let (sim, api) = setup().await;
    assert_eq!(sim.desk_peak_concurrency(), 0);
    sim.inject(
        Route::Desk,
        Fault::latency(Duration::from_millis(500)),
        Times::Always,
    );
    let results = burst(&api, "/departments", 4).await;
    assert!(
        results.iter().all(|(status, _)| *status == 200),
        "{results:?}"
    );
    assert_eq!(sim.desk_peak_concurrency(), 4);
    assert_eq!(sim.stats().desk_too_many_requests, 0);
}

#[tokio::test]
async fn a_delayed_create_still_happens_after_the_client_gives_up() {
    let (sim, api) = setup().await;
    let department = department_id(&api).await;
    let contact = contact(&api).await;
    sim.inject(
        Route::Desk,
        Fault::latency(Duration::from_millis(300)),
        Times::Next(1),
    );
    let body = json!({ "subject": "Timed out but created", "departmentId": department, "contactId": contact["id"] });
    let error = api
        .client
        .post(format!("{}/tickets", api.base))
        .timeout(Duration::from_millis(100))
        .header(
            "Authorization",
            format!("Zoho-oauthtoken {}", api.token.as_deref().unwrap()),
        )
        .header("orgId", sim.desk_org_id())
        .json(&body)
        .send()
        .await
        .expect_err("the client times out");
    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(sim.tickets_with_subject("Timed out but created"), 0);
    // The emulator finishes the request although nobody waits for the answer.
    for _ in 0..50 {
        if sim.tickets_with_subject("Timed out but created") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sim.tickets_with_subject("Timed out but created"), 1);
    assert_eq!(sim.ticket_count(), SEEDED_TICKETS + 1);
}

#[tokio::test]
async fn status_drop_and_any_faults_apply_to_desk_routes() {
    let (sim, api) = setup().await;
    sim.inject(Route::Desk, Fault::Status { status: 503 }, Times::Next(1));
    let answer = api.get("/tickets").await;
    assert_eq!(answer.status, 503);
    assert!(
        answer
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );

    sim.inject(Route::Any, Fault::Drop, Times::Next(1));
    let error = api
        .client
        .get(format!("{}/tickets", api.base))
        .send()
        .await
        .expect_err("the connection is dropped");
    assert!(!error.is_timeout(), "{error:?}");

    sim.inject(
        Route::Desk,
        Fault::Respond {
            status: 401,
            body: r#"{"errorCode":"INVALID_OAUTH","message":"x"}"#.to_owned(),
        },
        Times::Next(1),
    );
    api.get("/tickets").await.assert_error(401, "INVALID_OAUTH");
    // A Desk fault leaves the token endpoint alone.
    sim.inject(Route::Desk, Fault::Status { status: 500 }, Times::Next(1));
    mint(&sim, DEFAULT_REFRESH_TOKEN).await;

    let stats = sim.stats();
    assert_eq!(stats.count("GET /tickets", 503), 1);
    assert_eq!(stats.count("GET /tickets", 0), 1);
    assert_eq!(stats.count("GET /tickets", 401), 1);
    assert_eq!(stats.faults_injected, 3);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(
        api.get("/tickets?limit=1").await.status,
        500,
        "the planned fault is still waiting"
    );
}

#[tokio::test]
async fn desk_requests_are_counted_by_route_label() {
    let (sim, api) = setup().await;
    let ticket = first_ticket(&api).await;
    let id = ticket["id"].as_str().unwrap();
    api.get(&format!("/tickets/{id}")).await;
    api.get(&format!("/tickets/{id}")).await;
    api.get("/tickets/1").await;
    api.get(&format!("/tickets/{id}/threads")).await;
    api.get("/tickets/search?subject=zylker").await;
    api.post("/tickets", json!({})).await;

    assert_eq!(sim.desk_calls("GET /tickets"), 1);
    assert_eq!(sim.desk_calls("GET /tickets/{id}"), 3);
    assert_eq!(sim.stats().count("GET /tickets/{id}", 200), 2);
    assert_eq!(sim.stats().count("GET /tickets/{id}", 404), 1);
    assert_eq!(sim.desk_calls("GET /tickets/{id}/threads"), 1);
    assert_eq!(sim.desk_calls("GET /tickets/search"), 1);
    assert_eq!(sim.stats().count("POST /tickets", 422), 1);
    assert_eq!(sim.desk_calls("GET /contacts"), 0);
    let stats = sim.stats();
    assert_eq!(stats.desk_requests, 7);
    assert_eq!(stats.requests, 8, "plus the token request");
    assert_eq!(
        sim.desk_credits_remaining(),
        77_500 - (3 + 1 + 1 + 1 + 3 + 3 + 1)
    );
}

#[tokio::test]
async fn the_same_seed_gives_the_same_portal() {
    let (_a, api_a) = setup().await;
    let (_b, api_b) = setup().await;
    let a = api_a.get("/tickets?from=120&limit=5").await.data();
    let b = api_b.get("/tickets?from=120&limit=5").await.data();
    assert_eq!(a, b);
    let other = start_with(SimConfig {
        desk: zoho_sim::DeskConfig {
            seed: 99,
            ..Default::default()
        },
        ..SimConfig::default()
    })
    .await;
    let api_c = self::api(&other).await;
    assert_ne!(api_c.get("/tickets?from=120&limit=5").await.data(), a);
}
