//! The portal's data: one organization with its departments, agents, accounts, contacts and
//! tickets (with threads, comments and history), seeded deterministically, and the mutations the
//! API performs on it.
//!
//! Records are JSON objects, not structs: Zoho adds fields over time and a client must carry the
//! ones it does not know. Seeding fields no client models (`layoutId`, `sentiment`, `cf`, …) and
//! storing whatever a client sends makes a client that drops them visibly wrong.

use serde_json::{Map, Value, json};

use super::time::{DAY_MS, iso};

/// A JSON object: one stored record.
pub(crate) type Obj = Map<String, Value>;

/// Departments in the seeded portal.
pub const SEEDED_DEPARTMENTS: usize = 3;
/// Agents in the seeded portal.
pub const SEEDED_AGENTS: usize = 5;
/// Accounts (customer companies) in the seeded portal.
pub const SEEDED_ACCOUNTS: usize = 20;
/// Contacts in the seeded portal: exactly two pages of 100, so the third page is a 204.
pub const SEEDED_CONTACTS: usize = 200;
/// Tickets in the seeded portal: pages of 100 give 100, 100, 50.
pub const SEEDED_TICKETS: usize = 250;

/// The statuses a ticket may have, with the `statusType` each maps to.
pub(crate) const STATUSES: &[(&str, &str)] = &[
    ("Open", "Open"),
    ("On Hold", "On Hold"),
    ("Escalated", "Open"),
    ("Closed", "Closed"),
];

const PORTAL_NAME: &str = "zylkersim";
const WEB: &str = "https://desk.zoho.com/support/zylkersim/ShowHomePage.do#";
const LAYOUT_ID: &str = "1892000000074011";
/// 2025-01-01T00:00:00Z. Seeded records are dated from here, so seeding never reads a clock.
const SEED_EPOCH_MS: u64 = 1_735_689_600_000;
const HOUR_MS: u64 = 3_600_000;
const FIRST_ID: u64 = 1_892_000_000_042_001;
const FIRST_TICKET_NUMBER: u64 = 101;

/// A ticket and what hangs off it.
#[derive(Debug)]
pub(crate) struct Ticket {
    pub(crate) fields: Obj,
    pub(crate) threads: Vec<Obj>,
    pub(crate) comments: Vec<Obj>,
    /// Newest last; served newest first.
    pub(crate) history: Vec<Obj>,
    pub(crate) trashed: bool,
}

/// Everything the Desk half stores.
#[derive(Debug)]
pub(crate) struct Portal {
    pub(crate) organization: Obj,
    pub(crate) departments: Vec<Obj>,
    pub(crate) agents: Vec<Obj>,
    pub(crate) accounts: Vec<Obj>,
    pub(crate) contacts: Vec<Obj>,
    pub(crate) tickets: Vec<Ticket>,
    next_id: u64,
    next_ticket_number: u64,
}

/// A small linear congruential generator: deterministic across platforms and releases, which a
/// seeded `fastrand` does not promise.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// The string value of `field`, `""` when absent or not a string.
pub(crate) fn text<'a>(record: &'a Obj, field: &str) -> &'a str {
    record.get(field).and_then(Value::as_str).unwrap_or("")
}

fn id_of(record: &Obj) -> &str {
    text(record, "id")
}

/// The first `chars` characters of an HTML body as plain text (a thread's `summary`).
fn summary(html: &str, chars: usize) -> String {
    let mut plain = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => plain.push(c),
            _ => {}
        }
    }
    plain.chars().take(chars).collect()
}

impl Portal {
    /// The seeded portal of organization `org_id`; the same `seed` gives the same data.
    pub(crate) fn seeded(org_id: &str, seed: u64) -> Portal {
        let mut rng = Lcg(seed);
        let mut portal = Portal {
            organization: Obj::new(),
            departments: Vec::new(),
            agents: Vec::new(),
            accounts: Vec::new(),
            contacts: Vec::new(),
            tickets: Vec::new(),
            next_id: FIRST_ID,
            next_ticket_number: FIRST_TICKET_NUMBER,
        };
        portal.organization = object(json!({
            "id": org_id,
            "companyName": "Zylker Sim",
            "portalName": PORTAL_NAME,
            "portalURL": format!("https://desk.zoho.com/portal/{PORTAL_NAME}"),
            "edition": "PROFESSIONAL",
            "isDefault": true,
            "isAdminInOrg": true,
            "isPayloadEncryptionEnabled": false,
            "employeeCount": "50",
            "currencyLocale": "US",
            "countryCode": "US",
            "timeZone": "UTC",
            "logoURL": null,
            "description": "The emulator's seeded portal",
        }));
        portal.seed_departments();
        portal.seed_agents();
        portal.seed_accounts(&mut rng);
        portal.seed_contacts(&mut rng);
        for i in 0..SEEDED_TICKETS as u64 {
            portal.seed_ticket(&mut rng, i);
        }
        portal
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        (self.next_id - 1).to_string()
    }

    fn seed_departments(&mut self) {
        let names = ["Support", "Billing", "Engineering"];
        for (i, name) in names.into_iter().enumerate() {
            let id = self.new_id();
            let department = json!({
                "id": id,
                "name": name,
                "nameInCustomerPortal": name,
                "sanitizedName": name.to_lowercase(),
                "description": format!("{name} requests"),
                "isDefault": i == 0,
                "isEnabled": true,
                "isVisibleInCustomerPortal": true,
                "isAssignToTeamEnabled": false,
                "hasLogo": false,
                "chatStatus": "AVAILABLE",
                "creatorId": null,
                "createdTime": iso(SEED_EPOCH_MS - 400 * DAY_MS),
            });
            self.departments.push(object(department));
        }
    }

    fn seed_agents(&mut self) {
        let names = [
            ("Ava", "Kumar"),
            ("Ben", "Okafor"),
            ("Chloe", "Martin"),
            ("Diego", "Santos"),
            ("Emma", "Novak"),
        ];
        let department_ids: Vec<Value> = self.departments.iter().map(|d| d["id"].clone()).collect();
        for (i, (first, last)) in names.into_iter().enumerate() {
            let id = self.new_id();
            let agent = json!({
                "id": id,
                "firstName": first,
                "lastName": last,
                "name": format!("{first} {last}"),
                "emailId": format!("{}.{}@zylker-sim.example", first.to_lowercase(), last.to_lowercase()),
                "phone": format!("+1 555 010 {:04}", 1000 + i),
                "mobile": null,
                "status": "ACTIVE",
                "isConfirmed": true,
                "roleId": "1892000000006321",
                "profileId": "1892000000006333",
                "zuid": (70_000_000 + i).to_string(),
                "langCode": "en_US",
                "timeZone": "UTC",
                "photoURL": null,
                "isZiaAgent": false,
                // The first agent (the portal admin, whose token the API sees) is everywhere.
                "associatedDepartmentIds": if i == 0 { department_ids.clone() } else { vec![department_ids[i % department_ids.len()].clone()] },
            });
            self.agents.push(object(agent));
        }
    }

    fn seed_accounts(&mut self, rng: &mut Lcg) {
        let names = [
            "Acme",
            "Globex",
            "Initech",
            "Umbrella",
            "Hooli",
            "Stark",
            "Wayne",
            "Wonka",
            "Tyrell",
            "Cyberdyne",
            "Soylent",
            "Vandelay",
            "Oscorp",
            "Aperture",
            "Gringotts",
            "Monarch",
            "Duff",
            "Prestige",
            "Piedpiper",
            "Massive",
        ];
        let industries = [
            "Retail",
            "Manufacturing",
            "Finance",
            "Healthcare",
            "Software",
        ];
        for (i, name) in names.into_iter().enumerate() {
            let id = self.new_id();
            let owner = self.agents[i % SEEDED_AGENTS]["id"].clone();
            let created = SEED_EPOCH_MS - 300 * DAY_MS + i as u64 * DAY_MS + rng.below(DAY_MS);
            let account = json!({
                "id": id,
                "accountName": format!("{name} Inc"),
                "email": format!("info@{}.example", name.to_lowercase()),
                "website": format!("https://www.{}.example", name.to_lowercase()),
                "phone": format!("+1 555 020 {:04}", rng.below(10_000)),
                "industry": rng.pick(&industries),
                "city": rng.pick(&["Austin", "Berlin", "Chennai", "Sydney", "Toronto"]),
                "country": rng.pick(&["US", "DE", "IN", "AU", "CA"]),
                "ownerId": owner,
                "createdTime": iso(created),
                "modifiedTime": iso(created + rng.below(30 * DAY_MS)),
                "webUrl": format!("{WEB}Accounts/dv/{id}"),
                "layoutId": LAYOUT_ID,
                "isFollowing": false,
                "customFields": { "Tier": rng.pick(&["Gold", "Silver", "Bronze"]) },
                "cf": { "cf_tier": null },
            });
            let mut account = object(account);
            account["cf"]["cf_tier"] = account["customFields"]["Tier"].clone();
            self.accounts.push(account);
        }
    }

    fn seed_contacts(&mut self, rng: &mut Lcg) {
        let firsts = [
            "Liam", "Olivia", "Noah", "Amara", "Kenji", "Sofia", "Mateo", "Priya", "Lucas", "Zara",
            "Ethan", "Mia", "Omar", "Hana", "Leo", "Ines",
        ];
        let lasts = [
            "Smith",
            "Garcia",
            "Chen",
            "Müller",
            "Rossi",
            "Silva",
            "Tanaka",
            "Patel",
            "Kowalski",
            "Dubois",
            "Nguyen",
            "Johansson",
            "Haddad",
            "O'Brien",
            "Ivanova",
            "Mensah",
        ];
        for i in 0..SEEDED_CONTACTS {
            let id = self.new_id();
            let first = *rng.pick(&firsts);
            let last = *rng.pick(&lasts);
            // One in ten contacts belongs to no account.
            let account = (!rng.chance(10)).then(|| &self.accounts[i % SEEDED_ACCOUNTS]);
            let domain = account.map_or("mail.example".to_owned(), |a| {
                format!(
                    "{}.example",
                    text(a, "accountName")
                        .trim_end_matches(" Inc")
                        .to_lowercase()
                )
            });
            let local: String = format!("{first}.{last}{i}")
                .to_lowercase()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            let created = SEED_EPOCH_MS - 200 * DAY_MS + i as u64 * DAY_MS / 2 + rng.below(DAY_MS);
            let contact = json!({
                "id": id,
                "firstName": first,
                "lastName": last,
                "email": format!("{local}@{domain}"),
                "secondaryEmail": null,
                "phone": format!("+1 555 030 {:04}", rng.below(10_000)),
                "mobile": if rng.chance(50) { Value::from(format!("+1 555 040 {:04}", rng.below(10_000))) } else { Value::Null },
                "accountId": account.map(|a| a["id"].clone()),
                "ownerId": self.agents[i % SEEDED_AGENTS]["id"].clone(),
                "type": rng.pick(&["Customer", "Prospect", "Partner"]),
                "isSpam": false,
                "isAnonymous": false,
                "description": null,
                "photoURL": null,
                "zohoCRMContact": null,
                "createdTime": iso(created),
                "modifiedTime": iso(created + rng.below(60 * DAY_MS)),
                "webUrl": format!("{WEB}Contacts/dv/{id}"),
                "layoutId": LAYOUT_ID,
                "customFields": { "Preferred Language": rng.pick(&["English", "German", "Japanese"]) },
                "cf": { "cf_preferred_language": null },
            });
            let mut contact = object(contact);
            contact["cf"]["cf_preferred_language"] =
                contact["customFields"]["Preferred Language"].clone();
            self.contacts.push(contact);
        }
    }

    fn seed_ticket(&mut self, rng: &mut Lcg, i: u64) {
        let templates = [
            "Cannot log in to {}",
            "Refund request for {}",
            "{} keeps crashing on start",
            "Question about my {} invoice",
            "How do I export data from {}?",
            "{} is very slow today",
            "Feature request: dark mode in {}",
            "Password reset email for {} never arrives",
            "Sync errors in {}",
            "Cancel my {} subscription",
        ];
        let products = ["Zylker Cloud", "Zylker Mobile", "Zylker POS", "Zylker Sync"];
        let product = *rng.pick(&products);
        let subject = rng.pick(&templates).replace("{}", product);
        let contact = self.contacts[rng.below(SEEDED_CONTACTS as u64) as usize].clone();
        let department =
            self.departments[rng.below(SEEDED_DEPARTMENTS as u64) as usize]["id"].clone();
        let assignee = (!rng.chance(20)).then(|| rng.pick(&self.agents).clone());
        let status = match rng.below(100) {
            0..40 => "Open",
            40..55 => "On Hold",
            55..65 => "Escalated",
            _ => "Closed",
        };
        let channel = *rng.pick(&["Email", "Phone", "Web", "Chat", "Forums"]);
        let created = SEED_EPOCH_MS + i * 300 * DAY_MS / SEEDED_TICKETS as u64 + rng.below(DAY_MS);
        let description = format!(
            "<div>Hello,<br>{subject}. Could you please look into it?<br>Thanks, {}</div>",
            text(&contact, "firstName")
        );
        let mut fields = self.new_ticket_fields(created);
        fields.extend(object(json!({
            "subject": subject.clone(),
            "description": description,
            "status": status,
            "priority": rng.pick(&["High", "Medium", "Low"]),
            "channel": channel,
            "departmentId": department,
            "assigneeId": assignee.as_ref().map(|a| a["id"].clone()),
            "dueDate": if rng.chance(70) { Value::from(iso(created + 3 * DAY_MS)) } else { Value::Null },
            "sentiment": rng.pick(&["POSITIVE", "NEUTRAL", "NEGATIVE"]),
            "language": "English",
            "customFields": { "Region": rng.pick(&["AMER", "EMEA", "APAC"]) },
            "cf": { "cf_region": null },
        })));
        fields["cf"]["cf_region"] = fields["customFields"]["Region"].clone();
        set_contact(&mut fields, &contact);
        let mut ticket = Ticket {
            fields,
            threads: Vec::new(),
            comments: Vec::new(),
            history: Vec::new(),
            trashed: false,
        };
        let agent = assignee.unwrap_or_else(|| self.agents[0].clone());
        ticket.history.push(self.event(
            "TicketCreated",
            created,
            &agent,
            json!([{ "propertyName": "Subject", "propertyValue": subject }]),
        ));

        // The customer writes first (the description thread); replies alternate.
        let mut at = created;
        for n in 0..1 + rng.below(3) {
            at += HOUR_MS + rng.below(12 * HOUR_MS);
            let inbound = n % 2 == 0;
            let content = if n == 0 {
                description.clone()
            } else if inbound {
                "<div>Any update on this? It is still happening.</div>".to_owned()
            } else {
                format!(
                    "<div>Hi {}, thanks for writing in. We are looking into it.</div>",
                    text(&contact, "firstName")
                )
            };
            let channel = ticket.fields["channel"].clone();
            let mut thread = self.thread(&channel, &contact, &agent, inbound, content, at);
            thread.insert("isDescriptionThread".into(), json!(n == 0));
            ticket.threads.push(thread);
        }
        for _ in 0..rng.below(3) {
            at += HOUR_MS + rng.below(12 * HOUR_MS);
            let note = format!(
                "Checked the logs for ticket {}.",
                text(&ticket.fields, "ticketNumber")
            );
            let comment = self.comment(&agent, note, rng.chance(30), at);
            ticket
                .history
                .push(self.event("CommentAdded", at, &agent, json!([])));
            ticket.comments.push(comment);
        }
        let modified = at + rng.below(DAY_MS);
        ticket.fields["modifiedTime"] = json!(iso(modified));
        if status == "Closed" {
            ticket.fields["closedTime"] = json!(iso(modified));
        }
        if status != "Open" {
            let change = json!([{ "propertyName": "Status", "propertyValue": { "previousValue": "Open", "updatedValue": status } }]);
            ticket
                .history
                .push(self.event("TicketUpdated", modified, &agent, change));
        }
        sync_counts(&mut ticket);
        set_status(&mut ticket.fields, status);
        self.tickets.push(ticket);
    }

    /// Server-assigned fields and defaults of a new ticket.
    fn new_ticket_fields(&mut self, now_ms: u64) -> Obj {
        let id = self.new_id();
        self.next_ticket_number += 1;
        object(json!({
            "id": id,
            "ticketNumber": (self.next_ticket_number - 1).to_string(),
            "subject": null,
            "description": null,
            "status": "Open",
            "statusType": "Open",
            "priority": null,
            "channel": "Web",
            "email": null,
            "phone": null,
            "contactId": null,
            "accountId": null,
            "departmentId": null,
            "assigneeId": null,
            "teamId": null,
            "productId": null,
            "category": null,
            "classification": null,
            "createdTime": iso(now_ms),
            "modifiedTime": iso(now_ms),
            "closedTime": null,
            "onholdTime": null,
            "dueDate": null,
            "responseDueDate": null,
            "customerResponseTime": iso(now_ms),
            "threadCount": "0",
            "commentCount": "0",
            "isSpam": false,
            "isArchived": false,
            "isOverDue": false,
            "sentiment": null,
            "language": null,
            "layoutId": LAYOUT_ID,
            "channelCode": null,
            "source": { "type": "SYSTEM", "appName": null, "extId": null, "permalink": null },
            "customFields": {},
            "cf": {},
            "webUrl": format!("{WEB}Cases/dv/{id}"),
        }))
    }

    fn thread(
        &mut self,
        channel: &Value,
        contact: &Obj,
        agent: &Obj,
        inbound: bool,
        content: String,
        at_ms: u64,
    ) -> Obj {
        let author = if inbound {
            json!({
                "id": contact["id"], "name": format!("{} {}", text(contact, "firstName"), text(contact, "lastName")),
                "email": contact["email"], "type": "END_USER", "photoURL": null,
            })
        } else {
            json!({
                "id": agent["id"], "name": agent["name"], "email": agent["emailId"],
                "type": "AGENT", "photoURL": null,
            })
        };
        object(json!({
            "id": self.new_id(),
            "channel": channel,
            "direction": if inbound { "in" } else { "out" },
            "summary": summary(&content, 100),
            "content": content,
            "contentType": "text/html",
            "createdTime": iso(at_ms),
            "author": author,
            "fromEmailAddress": if inbound { contact["email"].clone() } else { json!("support@zylker-sim.example") },
            "to": if inbound { json!("support@zylker-sim.example") } else { contact["email"].clone() },
            "cc": null,
            "status": "SUCCESS",
            "visibility": "public",
            "isDescriptionThread": false,
            "isForward": false,
            "canReply": true,
            "hasAttach": false,
            "attachmentCount": "0",
            "responderId": if inbound { Value::Null } else { agent["id"].clone() },
        }))
    }

    fn comment(&mut self, agent: &Obj, content: String, public: bool, at_ms: u64) -> Obj {
        object(json!({
            "id": self.new_id(),
            "content": content,
            "contentType": "plainText",
            "isPublic": public,
            "commentedTime": iso(at_ms),
            "modifiedTime": iso(at_ms),
            "commenterId": agent["id"],
            "commenter": {
                "id": agent["id"], "firstName": agent["firstName"], "lastName": agent["lastName"],
                "name": agent["name"], "email": agent["emailId"], "photoURL": null,
                "type": "AGENT", "roleName": "Administrator",
            },
            "attachments": [],
            "mention": [],
        }))
    }

    fn event(&self, name: &str, at_ms: u64, agent: &Obj, info: Value) -> Obj {
        object(json!({
            "eventName": name,
            "eventTime": iso(at_ms),
            "source": "API",
            "actor": {
                "id": agent["id"], "name": agent["name"], "email": agent["emailId"],
                "type": "AGENT", "photoURL": null,
            },
            "eventInfo": info,
        }))
    }

    /// The agent the API acts as: the portal admin, who granted the OAuth token.
    pub(crate) fn actor(&self) -> &Obj {
        &self.agents[0]
    }

    pub(crate) fn department(&self, id: &str) -> Option<&Obj> {
        self.departments.iter().find(|d| id_of(d) == id)
    }

    pub(crate) fn agent(&self, id: &str) -> Option<&Obj> {
        self.agents.iter().find(|a| id_of(a) == id)
    }

    pub(crate) fn account(&self, id: &str) -> Option<&Obj> {
        self.accounts.iter().find(|a| id_of(a) == id)
    }

    pub(crate) fn contact(&self, id: &str) -> Option<&Obj> {
        self.contacts.iter().find(|c| id_of(c) == id)
    }

    /// The contact whose email is `email`, ignoring case (Zoho links a new ticket to it).
    pub(crate) fn contact_by_email(&self, email: &str) -> Option<&Obj> {
        self.contacts
            .iter()
            .find(|c| text(c, "email").eq_ignore_ascii_case(email))
    }

    /// Tickets not in the trash.
    pub(crate) fn live_tickets(&self) -> impl Iterator<Item = &Ticket> {
        self.tickets.iter().filter(|t| !t.trashed)
    }

    pub(crate) fn ticket(&self, id: &str) -> Option<&Ticket> {
        self.live_tickets().find(|t| id_of(&t.fields) == id)
    }

    pub(crate) fn ticket_mut(&mut self, id: &str) -> Option<&mut Ticket> {
        self.tickets
            .iter_mut()
            .find(|t| !t.trashed && id_of(&t.fields) == id)
    }

    /// Creates a contact from validated `input` (unknown fields kept) and returns it.
    pub(crate) fn create_contact(&mut self, input: Obj, now_ms: u64) -> Obj {
        let id = self.new_id();
        let mut contact = object(json!({
            "id": id,
            "firstName": null,
            "lastName": null,
            "email": null,
            "secondaryEmail": null,
            "phone": null,
            "mobile": null,
            "accountId": null,
            "ownerId": self.actor()["id"],
            "type": null,
            "isSpam": false,
            "isAnonymous": false,
            "description": null,
            "photoURL": null,
            "zohoCRMContact": null,
            "createdTime": iso(now_ms),
            "modifiedTime": iso(now_ms),
            "webUrl": format!("{WEB}Contacts/dv/{id}"),
            "layoutId": LAYOUT_ID,
            "customFields": {},
            "cf": {},
        }));
        merge(&mut contact, input, CONTACT_READ_ONLY);
        self.contacts.push(contact.clone());
        contact
    }

    /// Applies validated `input` to contact `id`; `None` when there is no such contact.
    pub(crate) fn update_contact(&mut self, id: &str, input: Obj, now_ms: u64) -> Option<Obj> {
        let contact = self.contacts.iter_mut().find(|c| id_of(c) == id)?;
        merge(contact, input, CONTACT_READ_ONLY);
        contact["modifiedTime"] = json!(iso(now_ms));
        Some(contact.clone())
    }

    /// Creates a ticket for `contact_id` from validated `input` (unknown fields and `cf` kept).
    pub(crate) fn create_ticket(&mut self, input: Obj, contact_id: &str, now_ms: u64) -> Obj {
        let mut fields = self.new_ticket_fields(now_ms);
        if let Some(contact) = self.contact(contact_id) {
            set_contact(&mut fields, contact);
        }
        merge(&mut fields, input, TICKET_READ_ONLY);
        let status = text(&fields, "status").to_owned();
        set_status(&mut fields, &status);
        let subject = fields["subject"].clone();
        let event = self.event(
            "TicketCreated",
            now_ms,
            self.actor(),
            json!([{ "propertyName": "Subject", "propertyValue": subject }]),
        );
        self.tickets.push(Ticket {
            fields: fields.clone(),
            threads: Vec::new(),
            comments: Vec::new(),
            history: vec![event],
            trashed: false,
        });
        fields
    }

    /// Applies validated `input` to ticket `id`, recording what changed in its history.
    pub(crate) fn update_ticket(&mut self, id: &str, input: Obj, now_ms: u64) -> Option<Obj> {
        let contact = input
            .get("contactId")
            .and_then(Value::as_str)
            .and_then(|c| self.contact(c))
            .cloned();
        let actor = self.actor().clone();
        let mut event = self.event("TicketUpdated", now_ms, &actor, json!([]));
        let ticket = self.ticket_mut(id)?;
        let before = ticket.fields.clone();
        if let Some(contact) = contact {
            set_contact(&mut ticket.fields, &contact);
        }
        merge(&mut ticket.fields, input, TICKET_READ_ONLY);
        let status = text(&ticket.fields, "status").to_owned();
        set_status(&mut ticket.fields, &status);
        ticket.fields["modifiedTime"] = json!(iso(now_ms));
        let changes: Vec<Value> = ticket
            .fields
            .iter()
            .filter(|(k, v)| k.as_str() != "modifiedTime" && before.get(*k) != Some(*v))
            .map(|(k, v)| json!({ "propertyName": k, "propertyValue": { "previousValue": before.get(k), "updatedValue": v } }))
            .collect();
        event["eventInfo"] = Value::Array(changes);
        ticket.history.push(event);
        Some(ticket.fields.clone())
    }

    /// Adds a comment by the API's agent to ticket `id`.
    pub(crate) fn add_comment(
        &mut self,
        id: &str,
        content: String,
        content_type: &str,
        public: bool,
        now_ms: u64,
    ) -> Option<Obj> {
        self.ticket(id)?;
        let actor = self.actor().clone();
        let mut comment = self.comment(&actor, content, public, now_ms);
        comment.insert("contentType".into(), json!(content_type));
        let event = self.event("CommentAdded", now_ms, &actor, json!([]));
        let ticket = self.ticket_mut(id)?;
        ticket.comments.push(comment.clone());
        ticket.history.push(event);
        ticket.fields["modifiedTime"] = json!(iso(now_ms));
        sync_counts(ticket);
        Some(comment)
    }
}

/// Fields a client cannot set: the server assigns or derives them.
const TICKET_READ_ONLY: &[&str] = &[
    "id",
    "ticketNumber",
    "statusType",
    "createdTime",
    "modifiedTime",
    "closedTime",
    "threadCount",
    "commentCount",
    "webUrl",
    "contact",
];
const CONTACT_READ_ONLY: &[&str] = &["id", "createdTime", "modifiedTime", "webUrl"];

/// Copies `input` over `record`, skipping `read_only` keys; `cf` and `customFields` merge key by
/// key, as Zoho updates only the custom fields a request names.
fn merge(record: &mut Obj, input: Obj, read_only: &[&str]) {
    for (key, value) in input {
        if read_only.contains(&key.as_str()) {
            continue;
        }
        match (record.get_mut(&key), value) {
            (Some(Value::Object(existing)), Value::Object(update))
                if key == "cf" || key == "customFields" =>
            {
                existing.extend(update);
            }
            (_, value) => {
                record.insert(key, value);
            }
        }
    }
}

/// Links a ticket to `contact`, copying what Zoho copies from it.
fn set_contact(fields: &mut Obj, contact: &Obj) {
    fields.insert("contactId".into(), contact["id"].clone());
    fields.insert("accountId".into(), contact["accountId"].clone());
    fields.insert("email".into(), contact["email"].clone());
    fields.insert("phone".into(), contact["phone"].clone());
}

/// Sets `statusType` from `status`, and `closedTime` when it closes (cleared when it reopens).
fn set_status(fields: &mut Obj, status: &str) {
    let status_type = STATUSES
        .iter()
        .find(|(s, _)| *s == status)
        .map_or("Open", |(_, t)| *t);
    fields.insert("statusType".into(), json!(status_type));
    if status_type != "Closed" {
        fields.insert("closedTime".into(), Value::Null);
    } else if fields["closedTime"].is_null() {
        let modified = fields["modifiedTime"].clone();
        fields.insert("closedTime".into(), modified);
    }
}

fn sync_counts(ticket: &mut Ticket) {
    ticket.fields["threadCount"] = json!(ticket.threads.len().to_string());
    ticket.fields["commentCount"] = json!(ticket.comments.len().to_string());
}

/// The object inside `value` (every call site builds an object literal).
fn object(value: Value) -> Obj {
    match value {
        Value::Object(map) => map,
        _ => Obj::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeding_is_deterministic_and_shaped_like_zoho() {
        let a = Portal::seeded("60000000001", 7);
        let b = Portal::seeded("60000000001", 7);
        assert_eq!(a.tickets[17].fields, b.tickets[17].fields);
        assert_eq!(a.contacts[123], b.contacts[123]);
        assert_ne!(
            Portal::seeded("60000000001", 8).tickets[17].fields,
            a.tickets[17].fields
        );
        assert_eq!(a.departments.len(), SEEDED_DEPARTMENTS);
        assert_eq!(a.agents.len(), SEEDED_AGENTS);
        assert_eq!(a.accounts.len(), SEEDED_ACCOUNTS);
        assert_eq!(a.contacts.len(), SEEDED_CONTACTS);
        assert_eq!(a.tickets.len(), SEEDED_TICKETS);
        for ticket in &a.tickets {
            assert!((1..=3).contains(&ticket.threads.len()));
            assert!(ticket.comments.len() <= 2);
            assert_eq!(
                ticket.fields["threadCount"],
                ticket.threads.len().to_string()
            );
            let closed = ticket.fields["status"] == "Closed";
            assert_eq!(ticket.fields["closedTime"].is_string(), closed);
            assert!(ticket.fields["modifiedTime"].as_str() > ticket.fields["createdTime"].as_str());
        }
        let statuses: std::collections::HashSet<&str> = a
            .tickets
            .iter()
            .map(|t| text(&t.fields, "status"))
            .collect();
        assert_eq!(statuses.len(), STATUSES.len(), "every status is seeded");
    }

    #[test]
    fn merge_keeps_unknown_fields_and_merges_custom_fields() {
        let mut record = object(json!({ "id": "1", "cf": { "cf_a": "1", "cf_b": "2" } }));
        let input = object(json!({ "id": "9", "brandNew": { "x": 1 }, "cf": { "cf_b": "3" } }));
        merge(&mut record, input, TICKET_READ_ONLY);
        assert_eq!(
            Value::Object(record),
            json!({ "id": "1", "brandNew": { "x": 1 }, "cf": { "cf_a": "1", "cf_b": "3" } })
        );
    }

    #[test]
    fn summaries_are_plain_text() {
        assert_eq!(summary("<div>Hi<br>there</div>", 100), "Hithere");
        assert_eq!(summary("<p>abcdef</p>", 3), "abc");
    }
}
