//! A contract test for every endpoint against the emulator: the request the client sends is the
//! one Zoho expects, and the answer decodes into the typed model with nothing lost.

mod common;

use common::portal;
use futures::TryStreamExt;
use zoho_desk_api::{
    ContactSearch, ContactUpdate, DeskError, ErrorCode, NewComment, NewContact, NewTicket,
    PageRequest, Side, TicketContact, TicketFilter, TicketId, TicketSearch, TicketUpdate,
};

#[tokio::test]
async fn organizations_are_listed_without_an_org_header() {
    let p = portal().await;
    let organizations = p.desk.organizations().await.unwrap();
    assert_eq!(organizations.len(), 1);
    assert_eq!(
        organizations[0].id.as_ref().unwrap().as_str(),
        p.sim.desk_org_id()
    );
    assert!(organizations[0].company_name.is_some());
    assert_eq!(p.calls("GET /organizations", 200), 1);
}

#[tokio::test]
async fn tickets_list_get_and_filters() {
    let p = portal().await;
    let page = p
        .desk
        .list_tickets(&TicketFilter::default(), PageRequest::first(25))
        .await
        .unwrap();
    assert_eq!(page.data.len(), 25);
    let first = &page.data[0];
    let id = first.id.clone().expect("id");
    assert!(id.as_str().chars().all(|c| c.is_ascii_digit()));
    assert!(first.created_time.is_some() && first.thread_count.is_some());
    assert!(
        !first.extra.is_empty(),
        "fields the client does not know are kept"
    );

    let fetched = p.desk.ticket(&id).await.unwrap();
    assert_eq!(fetched.id, Some(id));
    assert_eq!(fetched.subject, first.subject);

    let department = first.department_id.clone().unwrap();
    let filter = TicketFilter {
        department_id: Some(department.clone()),
        sort_by: Some("-createdTime".into()),
        ..TicketFilter::default()
    };
    let filtered = p
        .desk
        .list_tickets(&filter, PageRequest::first(100))
        .await
        .unwrap();
    assert!(!filtered.data.is_empty());
    assert!(
        filtered
            .data
            .iter()
            .all(|t| t.department_id.as_ref() == Some(&department))
    );
    let times: Vec<_> = filtered
        .data
        .iter()
        .map(|t| t.created_time.unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "sorted by -createdTime"
    );
    assert_eq!(p.calls("GET /tickets", 200), 2);
    assert_eq!(p.calls("GET /tickets/{id}", 200), 1);
}

#[tokio::test]
async fn tickets_create_update_and_move_to_trash() {
    let p = portal().await;
    let mut new = p.new_ticket_like_first("Printer on fire").await;
    let department = new.department_id.clone().unwrap();
    new.priority = Some("High".into());
    new.cf = Some(serde_json::from_str(r#"{"cf_region":"EMEA"}"#).unwrap());
    let created = p.desk.create_ticket(&new).await.unwrap();
    let id = created.id.clone().unwrap();
    assert_eq!(created.subject.as_deref(), Some("Printer on fire"));
    assert_eq!(p.sim.tickets_with_subject("Printer on fire"), 1);

    // A ticket for a new contact, given inline.
    let inline = NewTicket {
        subject: Some("Inline contact".into()),
        department_id: Some(department),
        contact: Some(TicketContact {
            last_name: Some("Lovelace".into()),
            email: Some("ada@example.com".into()),
            ..Default::default()
        }),
        ..NewTicket::default()
    };
    let contacts_before = p.sim.contact_count();
    p.desk.create_ticket(&inline).await.unwrap();
    assert_eq!(p.sim.contact_count(), contacts_before + 1);

    let update = TicketUpdate {
        status: Some("On Hold".into()),
        ..TicketUpdate::default()
    };
    let updated = p.desk.update_ticket(&id, &update).await.unwrap();
    assert_eq!(updated.status.as_deref(), Some("On Hold"));
    assert_eq!(
        updated.subject.as_deref(),
        Some("Printer on fire"),
        "PATCH leaves other fields alone"
    );

    let before = p.sim.ticket_count();
    p.desk
        .move_tickets_to_trash(std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(p.sim.ticket_count(), before - 1);
    let gone = p.desk.ticket(&id).await.unwrap_err();
    assert_eq!(gone.code(), Some(&ErrorCode::UrlNotFound));
    assert_eq!(gone.side(), Side::Zoho);
    assert!(!gone.is_retryable());
    assert_eq!(p.calls("POST /tickets/moveToTrash", 204), 1);
}

#[tokio::test]
async fn create_validation_errors_keep_zoho_field_errors() {
    let p = portal().await;
    let contact = p
        .desk
        .list_contacts(PageRequest::first(1))
        .await
        .unwrap()
        .data[0]
        .id
        .clone()
        .unwrap();
    let bad = NewTicket::for_contact("Wrong department", "1".into(), contact);
    let error = p.desk.create_ticket(&bad).await.unwrap_err();
    let DeskError::Api(api) = &error else {
        panic!("{error}")
    };
    assert_eq!(api.status, 422);
    assert_eq!(api.code, ErrorCode::InvalidData);
    assert_eq!(api.field_errors[0].field_name, "/departmentId");
    assert_eq!(api.field_errors[0].error_type, "invalid");
    // Rules the client knows are checked before sending: nothing reaches Zoho.
    let calls_before = p.sim.stats().desk_requests;
    let missing = NewTicket {
        subject: Some("No department".into()),
        ..NewTicket::default()
    };
    assert!(matches!(
        p.desk.create_ticket(&missing).await,
        Err(DeskError::InvalidInput(_))
    ));
    assert!(matches!(
        p.desk.create_contact(&NewContact::default()).await,
        Err(DeskError::InvalidInput(_))
    ));
    assert!(matches!(
        p.desk.ticket(&TicketId::new("../agents")).await,
        Err(DeskError::InvalidInput(_))
    ));
    assert_eq!(p.sim.stats().desk_requests, calls_before);
}

#[tokio::test]
async fn ticket_search() {
    let p = portal().await;
    let sample = p.first_ticket().await;
    let word = sample
        .subject
        .as_deref()
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let search = TicketSearch {
        subject: Some(word.clone()),
        ..TicketSearch::default()
    };
    let found = p
        .desk
        .search_tickets(&search, PageRequest::first(100))
        .await
        .unwrap();
    assert!(found.data.iter().any(|t| t.id == sample.id));
    assert!(found.data.iter().all(|t| {
        t.subject
            .as_deref()
            .unwrap()
            .to_lowercase()
            .contains(&word.to_lowercase())
    }));
    let by_number = TicketSearch {
        ticket_number: sample.ticket_number.clone(),
        ..TicketSearch::default()
    };
    let exact = p
        .desk
        .search_tickets(&by_number, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(exact.data.len(), 1);
    let none = TicketSearch {
        subject: Some("zzz-no-such-subject-zzz".into()),
        ..TicketSearch::default()
    };
    let empty = p
        .desk
        .search_tickets(&none, PageRequest::first(10))
        .await
        .unwrap();
    assert!(
        empty.data.is_empty() && empty.next().is_none(),
        "HTTP 204 means an empty page"
    );
    assert_eq!(p.calls("GET /tickets/search", 204), 1);
}

#[tokio::test]
async fn threads_comments_and_history() {
    let p = portal().await;
    let ticket = p.first_ticket().await;
    let id = ticket.id.unwrap();
    let threads = p
        .desk
        .list_threads(&id, PageRequest::first(200))
        .await
        .unwrap();
    assert_eq!(threads.data.len() as u64, ticket.thread_count.unwrap().0);
    let thread = p
        .desk
        .thread(&id, threads.data[0].id.as_ref().unwrap())
        .await
        .unwrap();
    assert!(
        thread.content.is_some(),
        "a thread fetched by id has its content"
    );

    let before = comment_count(&p, &id).await;
    let mut comment = NewComment::new("Called the customer back.");
    comment.is_public = Some(false);
    let created = p.desk.create_comment(&id, &comment).await.unwrap();
    assert_eq!(
        created.content.as_deref(),
        Some("Called the customer back.")
    );
    let after = comment_count(&p, &id).await;
    assert_eq!(after, before + 1);
    assert!(matches!(
        p.desk.create_comment(&id, &NewComment::new("  ")).await,
        Err(DeskError::InvalidInput(_))
    ));

    let history = p
        .desk
        .ticket_history(&id, PageRequest::first(50))
        .await
        .unwrap();
    assert!(history.data.iter().any(|e| e.event_name.is_some()));
    assert_eq!(p.calls("GET /tickets/{id}/threads", 200), 1);
    assert_eq!(p.calls("GET /tickets/{id}/threads/{threadId}", 200), 1);
    assert_eq!(p.calls("POST /tickets/{id}/comments", 200), 1);
    assert_eq!(p.calls("GET /tickets/{id}/History", 200), 1);
}

#[tokio::test]
async fn contacts_list_get_create_update_search() {
    let p = portal().await;
    let all: Vec<_> = p.desk.contacts(100).try_collect().await.unwrap();
    assert_eq!(all.len(), p.sim.contact_count());
    let one = p.desk.contact(all[0].id.as_ref().unwrap()).await.unwrap();
    assert_eq!(one.email, all[0].email);

    let new = NewContact {
        last_name: Some("Hopper".into()),
        first_name: Some("Grace".into()),
        email: Some("grace@example.com".into()),
        ..NewContact::default()
    };
    let created = p.desk.create_contact(&new).await.unwrap();
    let id = created.id.unwrap();
    let update = ContactUpdate {
        phone: Some("+1 555 0100".into()),
        ..ContactUpdate::default()
    };
    let updated = p.desk.update_contact(&id, &update).await.unwrap();
    assert_eq!(updated.phone.as_deref(), Some("+1 555 0100"));
    assert_eq!(updated.last_name.as_deref(), Some("Hopper"));

    let search = ContactSearch {
        email: Some("grace@example.com".into()),
        ..ContactSearch::default()
    };
    let found = p
        .desk
        .search_contacts(&search, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
    assert_eq!(found.data[0].id.as_ref(), Some(&id));
    assert_eq!(p.calls("GET /contacts/search", 200), 1);
}

#[tokio::test]
async fn accounts_agents_and_departments() {
    let p = portal().await;
    let accounts = p.desk.list_accounts(PageRequest::first(100)).await.unwrap();
    assert!(!accounts.data.is_empty());
    let account = p
        .desk
        .account(accounts.data[0].id.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(account.account_name, accounts.data[0].account_name);
    let agents = p.desk.list_agents(PageRequest::first(100)).await.unwrap();
    assert!(!agents.data.is_empty());
    let agent = p
        .desk
        .agent(agents.data[0].id.as_ref().unwrap())
        .await
        .unwrap();
    assert_eq!(agent.id, agents.data[0].id);
    let departments = p
        .desk
        .list_departments(PageRequest::first(100))
        .await
        .unwrap();
    assert!(departments.data.len() >= 2);
    assert_eq!(p.calls("GET /accounts/{id}", 200), 1);
    assert_eq!(p.calls("GET /agents/{id}", 200), 1);
    assert_eq!(p.calls("GET /departments", 200), 1);
}

/// How many comments the ticket has (all fit on one page in the emulator's data).
async fn comment_count(p: &common::Portal, id: &TicketId) -> usize {
    p.desk
        .list_comments(id, PageRequest::first(100))
        .await
        .unwrap()
        .data
        .len()
}
