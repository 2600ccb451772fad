//! The world around the load: emulator, private Redis, replicas, and how each fault is begun,
//! kept up and ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e::redis::PrivateRedis;
use e2e::{Gateway, find_secret, register_secret, zoho_env};
use serde_json::{Value, json};
use zoho_sim::{Fault, RefreshGrant, Route, SimConfig, SimHandle, Times, ZohoSim};

use crate::load::{Load, Pool, UpdateLog};
use crate::schedule::Injection;
use crate::{ADMIN_KEY, Args, CLIENT_TIMEOUT, PLENTY_OF_CREDITS, WORKERS, WRITE_KEY};

/// The scenario around the load: everything a phase needs to act.
pub(crate) struct World {
    pub(crate) sim: SimHandle,
    /// The emulator's counters before the replicas started (the fallback's mint excluded).
    pub(crate) baseline: zoho_sim::SimStats,
    pub(crate) redis: PrivateRedis,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) replicas: Vec<Option<Gateway>>,
    pub(crate) pool: Arc<Pool>,
    pub(crate) admin: reqwest::Client,
    pub(crate) primary_refresh_token: String,
    pub(crate) killed_replica: Option<usize>,
    /// Secrets found in the output of replicas already stopped.
    pub(crate) secret_findings: Vec<String>,
}

impl World {
    pub(crate) async fn start_replica(&mut self, index: usize) {
        let gateway = Gateway::start(&self.env).await;
        self.pool.set(index, Some(gateway.api.clone()));
        if let Some(old) = self.replicas[index].replace(gateway) {
            self.retire(old);
        }
    }

    /// Scans what a stopped replica printed.
    pub(crate) fn retire(&mut self, gateway: Gateway) {
        if let Some((kind, _)) = find_secret(&gateway.finish()) {
            self.secret_findings
                .push(format!("{kind} in the output of a replica"));
        }
    }

    pub(crate) async fn force_refresh(&self) -> String {
        let Some((_, api)) = self.pool.pick(0) else {
            return "no replica up".into();
        };
        let response = self
            .admin
            .post(format!("{api}/api/zoho-desk/token"))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await;
        match response {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                let detail = body["error"]["code"]
                    .as_str()
                    .or(body["message"].as_str())
                    .unwrap_or("");
                format!("{status} {detail}")
            }
            Err(error) => format!("no answer ({error})"),
        }
    }

    pub(crate) async fn begin(&mut self, injection: Injection) -> Option<String> {
        let sim = &self.sim;
        match injection {
            Injection::DeskLatency => sim.inject(
                Route::Desk,
                Fault::latency(Duration::from_millis(500)),
                Times::Always,
            ),
            Injection::DeskConcurrency => {
                // Slower calls overlap more, so the clients' calls do exceed the cut limit.
                sim.set_desk_concurrency_limit(2);
                sim.inject(
                    Route::Desk,
                    Fault::latency(Duration::from_millis(300)),
                    Times::Always,
                );
            }
            Injection::AccountsErrors => {
                sim.inject(Route::Token, Fault::Status { status: 503 }, Times::Always);
                return Some(self.force_refresh().await);
            }
            Injection::AccountsLatency => {
                sim.inject(
                    Route::Token,
                    Fault::latency(Duration::from_secs(3)),
                    Times::Always,
                );
                return Some(self.force_refresh().await);
            }
            // Driven by the scheduler's ticks (one drop per tick).
            Injection::DroppedConnections => {}
            Injection::RedisRestart => {
                self.redis.stop();
                // A refresh while the store is gone: the replica must fall back to refreshing
                // on its own (degraded) and keep serving.
                return Some(self.force_refresh().await);
            }
            Injection::ReplicaKill => {
                let index = self.replicas.len() - 1;
                self.pool.set(index, None);
                self.killed_replica = Some(index);
                if let Some(mut gateway) = self.replicas[index].take() {
                    gateway.kill();
                    gateway.wait().await;
                    self.retire(gateway);
                }
            }
            Injection::DailyCredits => sim.set_desk_daily_credits(0),
            Injection::AccessDenied => {
                sim.inject(
                    Route::Token,
                    Fault::Throttle {
                        style: zoho_sim::ThrottleStyle::Json200,
                    },
                    Times::Always,
                );
                return Some(self.force_refresh().await);
            }
            Injection::Revoked => {
                assert!(
                    sim.revoke_refresh_token(&self.primary_refresh_token),
                    "the refresh token was live"
                );
            }
            Injection::Reconsent => {
                let fresh = token_shaped("c0");
                register_secret(&fresh);
                sim.add_grant(grant(&fresh));
                for (name, value) in &mut self.env {
                    if name == "ZOHO_DESK_REFRESH_TOKEN" {
                        *value = fresh.clone();
                    }
                }
                for index in 0..self.replicas.len() {
                    self.pool.set(index, None);
                    if let Some(mut old) = self.replicas[index].take() {
                        // Requests already sent are answered during the drain.
                        old.terminate();
                        old.wait().await;
                        self.retire(old);
                    }
                    self.start_replica(index).await;
                }
            }
        }
        None
    }

    /// Repeated while a window is open (every 750 ms).
    pub(crate) fn tick(&self, injection: Injection) {
        if injection == Injection::DroppedConnections {
            self.sim.inject(Route::Desk, Fault::Drop, Times::Next(1));
        }
    }

    pub(crate) async fn end(&mut self, injection: Injection) {
        match injection {
            Injection::DeskConcurrency => self.sim.set_desk_concurrency_limit(10),
            Injection::DailyCredits => self.sim.set_desk_daily_credits(PLENTY_OF_CREDITS),
            Injection::RedisRestart => self.redis.restart(),
            Injection::ReplicaKill => {
                let index = self.killed_replica.expect("a replica was killed");
                self.start_replica(index).await;
            }
            _ => {}
        }
        self.sim.clear_faults();
    }

    /// `state[/fallback][/degraded]` of each replica up.
    pub(crate) async fn token_states(&self) -> Vec<String> {
        let apis: Vec<String> = self
            .pool
            .apis
            .read()
            .unwrap()
            .iter()
            .flatten()
            .cloned()
            .collect();
        let mut states = Vec::new();
        for api in apis {
            let Ok(response) = self
                .admin
                .get(format!("{api}/api/zoho-desk/token"))
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
            else {
                continue;
            };
            let body: Value = response.json().await.unwrap_or(Value::Null);
            let mut state = body["state"].as_str().unwrap_or("?").to_owned();
            if body["fallback"] == true {
                state.push_str("/fallback");
            }
            if body["degraded"] == true {
                state.push_str("/degraded");
            }
            states.push(state);
        }
        states
    }
}

/// A string of the shape of a Zoho refresh token, unique to this run and `tag`.
pub(crate) fn token_shaped(tag: &str) -> String {
    let pid = std::process::id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "1000.{tag}{pid:08x}{:022x}.{:032x}",
        nanos & ((1 << 88) - 1),
        nanos
    )
}

pub(crate) fn grant(refresh_token: &str) -> RefreshGrant {
    RefreshGrant {
        client_id: zoho_sim::DEFAULT_CLIENT_ID.into(),
        refresh_token: refresh_token.to_owned(),
        scopes: zoho_sim::PROJECT_SCOPES
            .iter()
            .map(|s| s.to_string())
            .collect(),
    }
}

impl World {
    /// The emulator with a static fallback token minted to outlive the run, a private Redis,
    /// and the replicas, started and serving.
    pub(crate) async fn start(
        args: &Args,
        total: Duration,
        token_lifetime: Duration,
        margin: Duration,
    ) -> World {
        let sim = ZohoSim::start(SimConfig {
            desk: zoho_sim::DeskConfig {
                daily_credits: PLENTY_OF_CREDITS,
                ..zoho_sim::DeskConfig::default()
            },
            ..SimConfig::default()
        })
        .await
        .expect("emulator");
        register_secret(WRITE_KEY);
        register_secret(ADMIN_KEY);
        let admin = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .expect("client");

        // The fallback comes from a grant of its own, as an operator would paste a token from
        // the API console; the primary grant's revocation does not touch it.
        let fallback_grant = token_shaped("fb");
        register_secret(&fallback_grant);
        sim.add_grant(grant(&fallback_grant));
        sim.set_token_lifetime(total + Duration::from_secs(3600));
        let fallback = sim
            .mint_access_token(&fallback_grant)
            .expect("a fallback token");
        register_secret(&fallback);
        sim.set_token_lifetime(token_lifetime);

        let redis = PrivateRedis::start();
        let mut env = zoho_env(&sim);
        for (name, value) in [
            ("REDIS_URL", redis.url()),
            ("ZOHO_TOKEN_ENCRYPTION_KEY", "5a".repeat(32)),
            ("ZOHO_DESK_ACCESS_TOKEN", fallback),
            (
                "ZOHO_TOKEN_REFRESH_MARGIN_SECS",
                margin.as_secs().to_string(),
            ),
            (
                "ZOHO_TOKEN_REFRESH_JITTER_SECS",
                (margin.as_secs() / 5).to_string(),
            ),
            (
                "GATEWAY_API_KEYS",
                format!("soak-load:write:{WRITE_KEY},soak-ops:admin:{ADMIN_KEY}"),
            ),
            // Rate limiting is the attack suite's subject; here it would only add noise.
            ("GATEWAY_RATE_LIMIT_PER_SECOND", "100000".into()),
            ("GATEWAY_RATE_LIMIT_BURST", "100000".into()),
            // The portal allows 10 calls at once; the replicas together stay below it.
            (
                "ZOHO_DESK_MAX_CONCURRENCY",
                (10 / args.replicas).to_string(),
            ),
        ] {
            env.push((name.to_owned(), value));
        }
        let pool = Arc::new(Pool::default());
        *pool.apis.write().unwrap() = vec![None; args.replicas];
        let mut world = World {
            baseline: sim.stats(),
            primary_refresh_token: zoho_sim::DEFAULT_REFRESH_TOKEN.to_owned(),
            sim,
            redis,
            env,
            replicas: (0..args.replicas).map(|_| None).collect(),
            pool,
            admin,
            killed_replica: None,
            secret_findings: Vec::new(),
        };
        for index in 0..args.replicas {
            world.start_replica(index).await;
        }
        world
    }

    /// The seeded ids the load reads and links to, and one ticket per worker to update.
    pub(crate) async fn prepare_load(&self) -> (Arc<Load>, Vec<UpdateLog>) {
        let (_, api) = self.pool.pick(0).expect("a replica");
        let call = |request: reqwest::RequestBuilder| async move {
            let response = request
                .bearer_auth(ADMIN_KEY)
                .send()
                .await
                .expect("gateway");
            response.json::<Value>().await.expect("JSON")
        };
        let page = call(
            self.admin
                .get(format!("{api}/api/zoho-desk/tickets?limit=20")),
        )
        .await;
        let seeded = page["data"].as_array().expect("a page of tickets");
        let field = |name: &str| seeded[0][name].as_str().expect(name).to_owned();
        let (department_id, contact_id) = (field("departmentId"), field("contactId"));
        let run = format!("{:08x}", std::process::id());
        let mut logs = Vec::new();
        for worker in 0..WORKERS {
            let ticket = json!({
                "subject": format!("soak {run} updates of w{worker}"),
                "departmentId": department_id,
                "contactId": contact_id,
            });
            let created = call(
                self.admin
                    .post(format!("{api}/api/zoho-desk/tickets"))
                    .json(&ticket),
            )
            .await;
            logs.push(UpdateLog {
                ticket_id: created["id"].as_str().expect("ticket id").to_owned(),
                ..UpdateLog::default()
            });
        }
        let load = Load {
            pool: self.pool.clone(),
            recorder: Arc::default(),
            started: Instant::now(),
            ticket_ids: seeded
                .iter()
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect(),
            department_id,
            contact_id,
            run,
        };
        (Arc::new(load), logs)
    }

    /// Stops every replica still running (SIGTERM) and scans what each printed.
    pub(crate) async fn stop_replicas(&mut self) {
        for index in 0..self.replicas.len() {
            if let Some(mut gateway) = self.replicas[index].take() {
                gateway.terminate();
                gateway.wait().await;
                self.retire(gateway);
            }
        }
    }
}
