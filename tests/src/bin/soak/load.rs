//! The load: the request mix, the workers that send it through the replicas' pool, and what
//! they record.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use e2e::find_secret;
use serde_json::{Value, json};

use crate::{CLIENT_TIMEOUT, THINK_TIME, WRITE_KEY};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Op {
    ListTickets,
    GetTicket,
    SearchTickets,
    ListContacts,
    PassListTickets,
    PassAgents,
    CreateTicket,
    PassCreateTicket,
    UpdateTicket,
    PassUpdateTicket,
}

/// The mix each worker cycles through (from its own offset): 14 reads, 3 creates, 3 updates.
pub(crate) const MIX: [Op; 20] = [
    Op::ListTickets,
    Op::GetTicket,
    Op::UpdateTicket,
    Op::PassAgents,
    Op::SearchTickets,
    Op::CreateTicket,
    Op::ListContacts,
    Op::PassListTickets,
    Op::GetTicket,
    Op::PassUpdateTicket,
    Op::ListTickets,
    Op::PassCreateTicket,
    Op::GetTicket,
    Op::PassAgents,
    Op::SearchTickets,
    Op::UpdateTicket,
    Op::ListContacts,
    Op::CreateTicket,
    Op::PassListTickets,
    Op::GetTicket,
];

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::ListTickets => "GET /tickets",
            Op::GetTicket => "GET /tickets/{id}",
            Op::SearchTickets => "GET /tickets/search",
            Op::ListContacts => "GET /contacts",
            Op::PassListTickets => "GET /v1/tickets (pass-through)",
            Op::PassAgents => "GET /v1/agents (pass-through)",
            Op::CreateTicket => "POST /tickets",
            Op::PassCreateTicket => "POST /v1/tickets (pass-through)",
            Op::UpdateTicket => "PATCH /tickets/{id}",
            Op::PassUpdateTicket => "PATCH /v1/tickets/{id} (pass-through)",
        }
    }

    pub(crate) fn is_write(self) -> bool {
        matches!(
            self,
            Op::CreateTicket | Op::PassCreateTicket | Op::UpdateTicket | Op::PassUpdateTicket
        )
    }
}

/// One request's result as the client saw it.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    /// Seconds since the load started.
    pub(crate) at: f64,
    pub(crate) op: Op,
    pub(crate) replica: usize,
    /// HTTP status; 0 when no answer came (connection refused or reset, or the client timeout).
    pub(crate) status: u16,
    /// The error code from the body (`error.code` of the gateway, `errorCode` of a Zoho body
    /// passed through), `connection` or `timeout`; empty on success.
    pub(crate) code: String,
}

/// The replicas' API addresses as the load balancer sees them: `None` while one is out.
#[derive(Default)]
pub(crate) struct Pool {
    pub(crate) apis: RwLock<Vec<Option<String>>>,
}

impl Pool {
    pub(crate) fn pick(&self, n: usize) -> Option<(usize, String)> {
        let apis = self.apis.read().unwrap();
        let up: Vec<(usize, &String)> = apis
            .iter()
            .enumerate()
            .filter_map(|(i, api)| api.as_ref().map(|api| (i, api)))
            .collect();
        let (i, api) = up.get(n % up.len().max(1))?;
        Some((*i, (*api).clone()))
    }

    pub(crate) fn set(&self, replica: usize, api: Option<String>) {
        self.apis.write().unwrap()[replica] = api;
    }
}

/// A ticket create as the client saw it.
#[derive(Debug, Clone)]
pub(crate) struct Create {
    pub(crate) subject: String,
    pub(crate) acknowledged: bool,
}

/// One worker's ticket and the updates it sent: `description` = `soak update <n>`.
#[derive(Debug, Clone, Default)]
pub(crate) struct UpdateLog {
    pub(crate) ticket_id: String,
    pub(crate) last_acknowledged: Option<u64>,
    pub(crate) last_sent: Option<u64>,
}

/// What the load collects.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) outcomes: Mutex<Vec<Outcome>>,
    pub(crate) creates: Mutex<Vec<Create>>,
    pub(crate) secrets_in_responses: Mutex<Vec<String>>,
}

pub(crate) struct Load {
    pub(crate) pool: Arc<Pool>,
    pub(crate) recorder: Arc<Recorder>,
    pub(crate) started: Instant,
    pub(crate) department_id: String,
    pub(crate) contact_id: String,
    pub(crate) ticket_ids: Vec<String>,
    pub(crate) run: String,
}

impl Load {
    pub(crate) async fn worker(
        self: Arc<Self>,
        worker: usize,
        mut updates: UpdateLog,
        stop: Arc<AtomicBool>,
    ) -> UpdateLog {
        let client = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .expect("client");
        let mut n = worker * 7;
        let mut sequence = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let op = MIX[n % MIX.len()];
            n += 1;
            sequence += 1;
            let Some((replica, api)) = self.pool.pick(n) else {
                tokio::time::sleep(THINK_TIME).await;
                continue;
            };
            let base = format!("{api}/api/zoho-desk");
            let seeded = &self.ticket_ids[n % self.ticket_ids.len()];
            let subject = format!("soak {} w{worker} n{sequence}", self.run);
            let new_ticket = json!({
                "subject": subject,
                "departmentId": self.department_id,
                "contactId": self.contact_id,
            });
            let update = json!({ "description": format!("soak update {sequence}") });
            let request = match op {
                Op::ListTickets => client.get(format!("{base}/tickets?limit=10")),
                Op::GetTicket => client.get(format!("{base}/tickets/{seeded}")),
                Op::SearchTickets => client.get(format!("{base}/tickets/search?subject=soak")),
                Op::ListContacts => client.get(format!("{base}/contacts?limit=5")),
                Op::PassListTickets => client.get(format!("{base}/v1/tickets?limit=5")),
                Op::PassAgents => client.get(format!("{base}/v1/agents")),
                Op::CreateTicket => client.post(format!("{base}/tickets")).json(&new_ticket),
                Op::PassCreateTicket => client.post(format!("{base}/v1/tickets")).json(&new_ticket),
                Op::UpdateTicket => client
                    .patch(format!("{base}/tickets/{}", updates.ticket_id))
                    .json(&update),
                Op::PassUpdateTicket => client
                    .patch(format!("{base}/v1/tickets/{}", updates.ticket_id))
                    .json(&update),
            };
            if matches!(op, Op::UpdateTicket | Op::PassUpdateTicket) {
                updates.last_sent = Some(sequence);
            }
            let at = self.started.elapsed().as_secs_f64();
            let (status, code) = match request.bearer_auth(WRITE_KEY).send().await {
                Ok(response) => self.read(op, response).await,
                Err(error) if error.is_timeout() => (0, "timeout".to_owned()),
                Err(_) => (0, "connection".to_owned()),
            };
            let ok = (200..300).contains(&status);
            match op {
                Op::CreateTicket | Op::PassCreateTicket => {
                    self.recorder.creates.lock().unwrap().push(Create {
                        subject,
                        acknowledged: ok,
                    });
                }
                Op::UpdateTicket | Op::PassUpdateTicket if ok => {
                    updates.last_acknowledged = Some(sequence);
                }
                _ => {}
            }
            self.recorder.outcomes.lock().unwrap().push(Outcome {
                at,
                op,
                replica,
                status,
                code,
            });
            tokio::time::sleep(THINK_TIME).await;
        }
        updates
    }

    /// Reads a response whole, checks it for secrets, and returns its status and error code.
    pub(crate) async fn read(&self, op: Op, response: reqwest::Response) -> (u16, String) {
        let status = response.status().as_u16();
        let headers: String = response
            .headers()
            .iter()
            .map(|(name, value)| format!("{name}: {}\n", String::from_utf8_lossy(value.as_bytes())))
            .collect();
        let body = response.bytes().await.unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        for (part, text) in [("headers", headers.as_str()), ("body", &body)] {
            if let Some((kind, _)) = find_secret(text) {
                self.recorder
                    .secrets_in_responses
                    .lock()
                    .unwrap()
                    .push(format!(
                        "{kind} in the {part} of a {status} to {}",
                        op.name()
                    ));
            }
        }
        if (200..300).contains(&status) {
            return (status, String::new());
        }
        let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let code = json["error"]["code"]
            .as_str()
            .or(json["errorCode"].as_str())
            .map_or_else(|| format!("http_{status}"), str::to_owned);
        (status, code)
    }
}
