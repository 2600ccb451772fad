//! JSON fixtures in Zoho's shapes decode into the typed models and encode back with every field
//! — known or not — intact.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use zoho_desk_api::{Agent, Contact, Count, Ticket};

/// Decodes `fixture`, re-encodes it, and checks: unknown fields come back byte for byte, known
/// fields come back equal (a known field sent as `null` comes back absent, as documented).
fn round_trip<T: DeserializeOwned + Serialize>(fixture: &str) -> T {
    let original: Value = serde_json::from_str(fixture).unwrap();
    let typed: T = serde_json::from_str(fixture).unwrap();
    let encoded = serde_json::to_value(&typed).unwrap();
    let (Value::Object(original), Value::Object(encoded)) = (original, &encoded) else {
        panic!("objects")
    };
    for (key, value) in &original {
        match encoded.get(key) {
            Some(back) => assert_eq!(
                serde_json::to_string(back).unwrap(),
                serde_json::to_string(value).unwrap(),
                "field {key} changed"
            ),
            None => assert!(value.is_null(), "field {key} was dropped"),
        }
    }
    assert!(
        encoded.keys().all(|k| original.contains_key(k)),
        "no field invented"
    );
    typed
}

#[test]
fn ticket_round_trips_with_unknown_fields() {
    let ticket: Ticket = round_trip(include_str!("fixtures/ticket.json"));
    assert_eq!(ticket.id.as_ref().unwrap().as_str(), "1892000000042034");
    assert_eq!(ticket.thread_count, Some(Count(7)));
    assert_eq!(ticket.closed_time.unwrap().utc().millisecond(), 500);
    assert_eq!(ticket.cf.as_ref().unwrap()["cf_region"], "EMEA");
    assert_eq!(ticket.extra["layoutId"], "1892000000074011");
    assert!(ticket.extra.contains_key("sentiment"));
    assert!(
        ticket.extra.contains_key("productId"),
        "an unknown null is kept too"
    );
}

#[test]
fn contact_round_trips_with_unknown_fields() {
    let contact: Contact = round_trip(include_str!("fixtures/contact.json"));
    assert_eq!(contact.kind.as_deref(), Some("paid"));
    assert_eq!(contact.mobile, None);
    assert!(contact.extra.contains_key("zohoCRMContact"));
}

#[test]
fn agent_round_trips_with_unknown_fields() {
    let agent: Agent = round_trip(include_str!("fixtures/agent.json"));
    assert_eq!(agent.associated_department_ids.as_ref().unwrap().len(), 2);
    assert_eq!(agent.extra["isConfirmed"], true);
}

#[test]
fn a_read_modify_write_keeps_what_the_client_does_not_know() {
    let mut ticket: Ticket = serde_json::from_str(include_str!("fixtures/ticket.json")).unwrap();
    ticket.status = Some("Closed".into());
    let written = serde_json::to_value(&ticket).unwrap();
    assert_eq!(written["status"], "Closed");
    assert_eq!(
        written["sentiment"]["history"],
        serde_json::json!([1, 2.5, "x", null])
    );
    assert_eq!(written["threadCount"], "7", "counts stay strings");
    assert_eq!(written["createdTime"], "2016-06-21T16:16:16.000Z");
}
