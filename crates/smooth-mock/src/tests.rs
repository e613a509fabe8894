//! End-to-end tests of the mock over real HTTP (reqwest against `MockSmooth::start`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Short schedules; long-poll on so polls return as soon as something happens.
fn fast() -> MockConfig {
    MockConfig {
        waiting: ms(20),
        run_time: ms(100),
        step_time: ms(25),
        recording_delay: ms(50),
        long_poll: ms(2000),
        ..MockConfig::default()
    }
}

struct Api {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
}

struct Reply {
    status: u16,
    body: Value,
    headers: reqwest::header::HeaderMap,
}

impl Reply {
    fn r(&self) -> &Value {
        &self.body["r"]
    }
}

impl Api {
    fn new(mock: &MockSmooth) -> Api {
        Api::with_key(mock, Some("cmzr-test"))
    }

    fn with_key(mock: &MockSmooth, key: Option<&str>) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: mock.base_url(),
            key: key.map(str::to_string),
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(key) = &self.key {
            req = req.header("apikey", key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("request failed")).await
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send(reqwest::Method::DELETE, path, None).await
    }

    async fn raw_post(&self, path: &str, content_type: &str, body: &'static str) -> Reply {
        let mut req = self
            .http
            .post(format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body);
        if let Some(key) = &self.key {
            req = req.header("apikey", key);
        }
        read(req.send().await.unwrap()).await
    }

    async fn upload(
        &self,
        path: &str,
        file_name: Option<&str>,
        data: &[u8],
        purpose: Option<&str>,
    ) -> Reply {
        use reqwest::multipart::{Form, Part};
        let mut part = Part::bytes(data.to_vec());
        if let Some(name) = file_name {
            part = part.file_name(name.to_string());
        }
        let mut form = Form::new().part("file", part);
        if let Some(p) = purpose {
            form = form.text("file_purpose", p.to_string());
        }
        let mut req = self
            .http
            .post(format!("{}{}", self.base, path))
            .multipart(form);
        if let Some(key) = &self.key {
            req = req.header("apikey", key);
        }
        read(req.send().await.unwrap()).await
    }

    async fn create(&self, body: Value) -> String {
        let reply = self.post("/task", body).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.r()["id"].as_str().unwrap().to_string()
    }

    async fn session(&self) -> String {
        self.create(json!({"task": null})).await
    }

    /// Polls `GET /task/{id}` (following the cursor) until an event with `event_id` shows up.
    async fn wait_event(&self, task: &str, event_id: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut cursor = 0i64;
        loop {
            let reply = self.get(&format!("/task/{task}?event_t={cursor}")).await;
            let events = reply.r()["events"].as_array().cloned().unwrap_or_default();
            if let Some(e) = events.iter().find(|e| e["id"] == event_id) {
                return e.clone();
            }
            for e in &events {
                cursor = cursor.max(e["timestamp"].as_i64().unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "no event {event_id}: {}",
                reply.body
            );
            if events.is_empty() {
                tokio::time::sleep(ms(2)).await;
            }
        }
    }

    /// Polls (long-polling) until the task has `status`.
    async fn wait_status(&self, task: &str, status: &str) -> Reply {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let reply = self
                .get(&format!("/task/{task}?event_t=99999999999999"))
                .await;
            if reply.r()["status"] == status {
                return reply;
            }
            assert!(Instant::now() < deadline, "never {status}: {}", reply.body);
            tokio::time::sleep(ms(2)).await;
        }
    }

    async fn action(&self, task: &str, id: &str, name: &str, payload: Value) -> Value {
        let reply = self
            .post(
                &format!("/task/{task}/event"),
                json!({"name": name, "id": id, "payload": payload}),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.r()["id"], id);
        self.wait_event(task, id).await
    }
}

async fn read(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply {
        status,
        body,
        headers,
    }
}

fn locs(reply: &Reply) -> Vec<Value> {
    reply.body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("no error array: {}", reply.body))
        .iter()
        .map(|e| e["loc"].clone())
        .collect()
}

#[tokio::test]
async fn one_shot_lifecycle_recording_and_downloads() {
    let cfg = MockConfig {
        recording_delay: ms(300),
        ..fast()
    };
    let mock = MockSmooth::start(cfg.clone()).await.unwrap();
    let api = Api::new(&mock);
    let created = api
        .post(
            "/task",
            json!({"task": "Find tea prices", "device": "mobile"}),
        )
        .await;
    assert_eq!(created.status, 200);
    let t = created.r();
    let id = t["id"].as_str().unwrap().to_string();
    assert_eq!(t["status"], "waiting");
    assert_eq!(t["live_url"], Value::Null);
    assert_eq!(t["recording_url"], Value::Null);
    assert_eq!(t["credits_used"], json!(0.0));
    assert_eq!(t["device"], "mobile");
    assert!(t.get("downloads_url").is_none());
    let now_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((t["created_at"].as_i64().unwrap() - now_unix).abs() <= 1);

    // The long-poll wakes when the task starts running.
    let running = api.get(&format!("/task/{id}")).await;
    assert_eq!(running.status, 202);
    assert_eq!(running.r()["status"], "running");
    assert_eq!(
        running.r()["live_url"],
        format!("https://live.mock.smooth.sh/{id}")
    );
    assert_eq!(running.r()["output"], Value::Null);
    assert_eq!(mock.task_status(&id).as_deref(), Some("running"));

    let end = mock.wait_terminal(&id).await.unwrap();
    let before = Instant::now();
    let done = api.get(&format!("/task/{id}?downloads=true")).await;
    assert_eq!(done.status, 200);
    let d = done.r();
    assert_eq!(d["status"], "done");
    assert_eq!(d["output"], "Simulated result for task: Find tea prices");
    assert_eq!(
        d["credits_used"],
        json!(2.0),
        "4 steps of 25 ms at 0.5 credits"
    );
    assert_eq!(d["live_url"], Value::Null);
    assert_eq!(d["events"], json!([]));
    if before < end + cfg.recording_delay && Instant::now() < end + cfg.recording_delay {
        assert_eq!(d["recording_url"], Value::Null);
        assert_eq!(d["downloads_url"], Value::Null);
    }
    tokio::time::sleep_until((end + cfg.recording_delay).into()).await;
    let later = api.get(&format!("/task/{id}?downloads=1")).await;
    assert_eq!(
        later.r()["recording_url"],
        format!("https://recordings.mock.smooth.sh/{id}.mp4")
    );
    assert_eq!(later.r()["downloads_url"], "");
    assert_eq!(mock.wait_terminal(&id).await, Some(end));
    assert_eq!(mock.wait_terminal("nope").await, None);
}

#[tokio::test]
async fn outputs_and_directives() {
    let cfg = MockConfig {
        recording_delay: Duration::ZERO,
        ..fast()
    };
    let mock = MockSmooth::start(cfg).await.unwrap();
    let api = Api::new(&mock);
    let schema = json!({"type": "object", "properties": {
        "products": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "price": {"type": "number"}}, "required": ["name", "price"]}},
        "currency": {"enum": ["EUR", "USD"]}}, "required": ["products"]});
    let structured = api
        .create(json!({"task": "List teas", "response_model": schema, "max_steps": 2}))
        .await;
    let failing = api.create(json!({"task": "Break [mock:fail]"})).await;
    let started = Instant::now();
    let quick = api
        .create(json!({"task": "Quick [mock:duration=10ms] [mock:download]", "enable_recording": false}))
        .await;
    let shot = api
        .create(json!({"task": "Shoot", "additional_tools": {"screenshot": {"full_page": true}, "hover": null}}))
        .await;

    let quick_end = mock.wait_terminal(&quick).await.unwrap();
    assert!(quick_end - started < ms(90), "duration directive ignored");
    let q = api.get(&format!("/task/{quick}?downloads=true")).await;
    assert_eq!(q.r()["output"], "Simulated result for task: Quick");
    assert_eq!(q.r()["credits_used"], json!(0.5));
    assert_eq!(q.r()["recording_url"], "");
    let link = q.r()["downloads_url"].as_str().unwrap();
    let prefix = format!("http://{}/_downloads/{quick}.zip?", mock.addr());
    assert!(link.starts_with(&prefix), "{link}");

    mock.wait_terminal(&structured).await.unwrap();
    let s = api.get(&format!("/task/{structured}")).await;
    assert_eq!(s.r()["status"], "done");
    assert!(
        jsonschema::is_valid(&schema, &s.r()["output"]),
        "{}",
        s.r()["output"]
    );
    assert_eq!(s.r()["output"]["currency"], "EUR");
    assert_eq!(s.r()["credits_used"], json!(1.0), "capped by max_steps = 2");

    mock.wait_terminal(&failing).await.unwrap();
    let f = api.get(&format!("/task/{failing}")).await;
    assert_eq!(f.status, 200);
    assert_eq!(f.r()["status"], "failed");
    assert_eq!(f.r()["output"], "Agent failed: simulated failure");

    mock.wait_terminal(&shot).await.unwrap();
    let sh = api.get(&format!("/task/{shot}?downloads=true")).await;
    let link = sh.r()["downloads_url"].as_str().unwrap();
    let prefix = format!("http://{}/_downloads/{shot}.zip?", mock.addr());
    assert!(link.starts_with(&prefix), "{link}");
    assert_eq!(
        sh.r()["recording_url"],
        format!("https://recordings.mock.smooth.sh/{shot}.mp4")
    );
}

#[tokio::test]
async fn auth_and_routing_errors() {
    let cfg = MockConfig {
        api_key: Some("cmzr-good".into()),
        ..fast()
    };
    let mock = MockSmooth::start(cfg).await.unwrap();
    let missing = Api::with_key(&mock, None).get("/task").await;
    assert_eq!(
        (missing.status, missing.body.clone()),
        (401, json!({"detail": "Missing API key"}))
    );
    let empty = Api::with_key(&mock, Some("")).get("/profile").await;
    assert_eq!(empty.status, 401);
    let wrong = Api::with_key(&mock, Some("cmzr-bad")).get("/task").await;
    assert_eq!(
        (wrong.status, wrong.body["detail"].clone()),
        (401, json!("Invalid API key"))
    );
    let forbidden = Api::with_key(&mock, Some("cmzr-forbidden"))
        .post("/profile", json!({}))
        .await;
    assert_eq!(forbidden.status, 403);
    assert!(forbidden.body["detail"].is_string());

    let api = Api::with_key(&mock, Some("cmzr-good"));
    let unknown_route = Api::with_key(&mock, None).get("/nope/nope").await;
    assert_eq!(
        (unknown_route.status, unknown_route.body.clone()),
        (404, json!({"detail": "Not Found"}))
    );
    let unknown_task = api.get("/task/does-not-exist").await;
    assert_eq!(
        (unknown_task.status, unknown_task.body.clone()),
        (404, json!({"detail": "Task not found"}))
    );
    let put = api
        .send(reqwest::Method::PUT, "/task", Some(json!({})))
        .await;
    assert_eq!(put.status, 405);
    let ok = api.get("/task").await;
    assert_eq!((ok.status, ok.r().clone()), (200, json!([])));

    let log = mock.requests();
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![401, 401, 401, 403, 404, 404, 405, 200]);
    assert_eq!(log[0].apikey, None);
    assert_eq!(log[2].apikey.as_deref(), Some("cmzr-bad"));
    assert_eq!(log[4].path, "/nope/nope");
    assert_eq!(log[3].body, Some(json!({})));
    assert_eq!(mock.count("GET", "/task"), 3);
    assert_eq!(mock.count("get", "/task/*"), 1);
    assert_eq!(mock.count("*", "/task"), 4);
}

#[tokio::test]
async fn task_validation() {
    let mock = MockSmooth::start(fast()).await.unwrap();
    let api = Api::new(&mock);
    let cases = [
        (
            json!({"task": "x", "max_steps": 1}),
            json!(["body", "max_steps"]),
        ),
        (
            json!({"task": "x", "max_steps": 129}),
            json!(["body", "max_steps"]),
        ),
        (
            json!({"task": "x", "max_steps": "many"}),
            json!(["body", "max_steps"]),
        ),
        (
            json!({"task": "x", "device": "tablet"}),
            json!(["body", "device"]),
        ),
        (
            json!({"task": "x", "device": null}),
            json!(["body", "device"]),
        ),
        (
            json!({"task": "x", "agent": "gpt"}),
            json!(["body", "agent"]),
        ),
        (json!({"task": 5}), json!(["body", "task"])),
        (
            json!({"task": "x", "metadata": {"k": "v".repeat(2049)}}),
            json!(["body", "metadata", "k"]),
        ),
        (
            json!({"task": "x", "metadata": {"k": [1]}}),
            json!(["body", "metadata", "k"]),
        ),
        (
            json!({"task": "x", "files": ["file-nope"]}),
            json!(["body", "files", 0]),
        ),
        (
            json!({"task": "x", "extensions": ["ext-nope"]}),
            json!(["body", "extensions", 0]),
        ),
        (
            json!({"task": "x", "custom_tools": [{"name": "t"}]}),
            json!(["body", "custom_tools", 0, "description"]),
        ),
        (
            json!({"task": "x", "enable_recording": "yes"}),
            json!(["body", "enable_recording"]),
        ),
        (json!(["not", "an", "object"]), json!(["body"])),
    ];
    for (body, loc) in cases {
        let reply = api.post("/task", body.clone()).await;
        assert_eq!(reply.status, 422, "{body} → {}", reply.body);
        assert!(locs(&reply).contains(&loc), "{body} → {}", reply.body);
        let first = &reply.body["detail"][0];
        assert!(first["msg"].is_string() && first["type"].is_string());
    }
    let many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!(i))).collect();
    let reply = api
        .post("/task", json!({"task": "x", "metadata": many}))
        .await;
    assert_eq!(reply.body["detail"][0]["type"], "too_long");
    let unknown_file = api
        .post("/task", json!({"task": "x", "files": ["file-nope"]}))
        .await;
    assert!(
        unknown_file.body["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("file-nope")
    );

    let not_json = api.raw_post("/task", "application/json", "{nope").await;
    assert_eq!(not_json.status, 422);
    assert_eq!(not_json.body["detail"][0]["type"], "json_invalid");
    let empty = api.raw_post("/task", "application/json", "").await;
    assert_eq!(empty.status, 422);

    let profile = api
        .post("/task", json!({"task": "x", "profile_id": "ghost"}))
        .await;
    assert_eq!(profile.status, 404);
    let extras = api
        .post("/task", json!({"task": "x", "brand_new_field": {"a": 1}, "stealth_mode": true, "metadata": {"a": 1, "b": true, "c": "s"}}))
        .await;
    assert_eq!(extras.status, 200, "{}", extras.body);

    for q in ["l=0", "l=129", "l=x", "t=soon"] {
        let reply = api.get(&format!("/task?{q}")).await;
        assert_eq!(reply.status, 422, "{q}");
    }
    let bad_cursor = api
        .get(&format!(
            "/task/{}?event_t=abc",
            extras.r()["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(bad_cursor.status, 422);
    assert_eq!(locs(&bad_cursor), vec![json!(["query", "event_t"])]);
}

#[tokio::test]
async fn concurrent_browser_limit_and_cancel() {
    let cfg = MockConfig {
        max_live_browsers: 2,
        ..fast()
    };
    let mock = MockSmooth::start(cfg).await.unwrap();
    let api = Api::new(&mock);
    let a = api.session().await;
    let b = api
        .create(json!({"task": "long [mock:duration=30s]"}))
        .await;
    let limited = api.post("/task", json!({"task": "third"})).await;
    assert_eq!(
        (limited.status, limited.body.clone()),
        (
            429,
            json!({"detail": "Concurrent browser limit reached for your plan"})
        )
    );

    let cancelled = api.delete(&format!("/task/{b}")).await;
    assert_eq!(
        (cancelled.status, cancelled.r().clone()),
        (200, json!(true))
    );
    assert_eq!(mock.task_status(&b).as_deref(), Some("cancelled"));
    assert!(mock.wait_terminal(&b).await.is_some());
    let got = api.get(&format!("/task/{b}")).await;
    assert_eq!(
        (got.status, got.r()["status"].clone()),
        (200, json!("cancelled"))
    );
    assert_eq!(api.delete(&format!("/task/{b}")).await.status, 404);
    assert_eq!(api.delete("/task/unknown").await.status, 404);

    let c = api.create(json!({"task": "third"})).await;
    assert_ne!(c, a);
    assert_eq!(api.delete(&format!("/task/{a}")).await.status, 200);
    assert_eq!(mock.task_status(&a).as_deref(), Some("cancelled"));
    let after = api
        .post(
            &format!("/task/{a}/event"),
            json!({"name": "session_action", "payload": {"name": "close"}}),
        )
        .await;
    assert_eq!(
        (after.status, after.body.clone()),
        (400, json!({"detail": "Session is closed"}))
    );
}

#[tokio::test]
async fn session_actions_cursor_and_close() {
    let mock = MockSmooth::start(fast()).await.unwrap();
    let api = Api::new(&mock);
    let sid = api.session().await;
    let first = api.get(&format!("/task/{sid}")).await;
    assert_eq!(first.r()["status"], "running");
    assert_eq!(
        first.r()["live_url"],
        format!("https://live.mock.smooth.sh/{sid}")
    );

    // goto, then evaluate_js queued behind it: both complete in the same millisecond
    // (asserted when the second post arrived before the 50 ms goto finished).
    let posted = Instant::now();
    let goto = json!({"name": "browser_action", "id": "g1",
        "payload": {"name": "goto", "input": {"url": "https://shop.example.com/tea"}}});
    assert_eq!(
        api.post(&format!("/task/{sid}/event"), goto).await.r()["id"],
        "g1"
    );
    let eval = json!({"name": "browser_action", "id": "e1",
        "payload": {"name": "evaluate_js", "input": {"js": "document.title"}}});
    assert_eq!(
        api.post(&format!("/task/{sid}/event"), eval).await.status,
        200
    );
    let queued_behind_goto = posted.elapsed() < ms(45);
    let title = api.wait_event(&sid, "e1").await;
    let g1 = api.wait_event(&sid, "g1").await;
    assert_eq!(g1["name"], "browser_action");
    assert_eq!(
        g1["payload"],
        json!({"code": 200, "output": {"output": null, "credits_used": 0.0, "duration": 0.05}})
    );
    assert_eq!(
        title["payload"]["output"]["output"],
        "Mock page: https://shop.example.com/tea"
    );
    if queued_behind_goto {
        assert_eq!(
            g1["timestamp"], title["timestamp"],
            "timestamp collision expected"
        );
    }
    let ts = g1["timestamp"].as_i64().unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now_ms - ts).abs() < 5_000,
        "timestamps are epoch milliseconds"
    );

    // The cursor is strictly-after: polling from ts returns only the newer extract result.
    let schema = json!({"type": "object", "properties": {"price": {"type": "number"}}});
    let reply = api
        .post(
            &format!("/task/{sid}/event"),
            json!({"name": "browser_action", "id": "x1",
            "payload": {"name": "extract", "input": {"schema": schema, "prompt": "price"}}}),
        )
        .await;
    assert_eq!(reply.status, 200);
    let newer = api.get(&format!("/task/{sid}?event_t={ts}")).await;
    let events = newer.r()["events"].as_array().unwrap().clone();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["id"], "x1");
    assert!(events[0]["timestamp"].as_i64().unwrap() > ts);
    assert_eq!(
        events[0]["payload"]["output"],
        json!({"output": {"price": 4.2}, "credits_used": 0.1, "duration": 0.1})
    );
    let all = api.get(&format!("/task/{sid}?event_t=0")).await;
    let ids: Vec<&str> = all.r()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["g1", "e1", "x1"]);
    assert_eq!(all.r()["credits_used"], json!(0.1));

    // Failing actions are results with code 400; an id is generated when absent.
    let thrown = api
        .action(
            &sid,
            "e2",
            "browser_action",
            json!({"name": "evaluate_js", "input": {"js": "throw new Error('boom')"}}),
        )
        .await;
    assert_eq!(
        thrown["payload"],
        json!({"code": 400, "output": "Error: boom"})
    );
    let unknown = api
        .action(&sid, "u1", "browser_action", json!({"name": "teleport"}))
        .await;
    assert_eq!(unknown["payload"]["code"], 400);
    let sum = api
        .action(&sid, "e3", "browser_action", json!({"name": "evaluate_js", "input": {"js": "(args) => args.a + args.b", "args": {"a": 1, "b": 2}}}))
        .await;
    assert_eq!(sum["payload"]["output"]["output"], 3);
    let generated = api
        .post(&format!("/task/{sid}/event"), json!({"name": "browser_action", "payload": {"name": "goto", "input": {"url": "https://example.org/"}}}))
        .await;
    let gen_id = generated.r()["id"].as_str().unwrap().to_string();
    assert!(!gen_id.is_empty());
    api.wait_event(&sid, &gen_id).await;
    let bad_event = api
        .post(
            &format!("/task/{sid}/event"),
            json!({"name": "telepathy", "payload": {}}),
        )
        .await;
    assert_eq!(bad_event.status, 400);
    let invalid = api
        .post(&format!("/task/{sid}/event"), json!({"payload": {}}))
        .await;
    assert_eq!(invalid.status, 422);
    let missing = api
        .post(
            "/task/ghost/event",
            json!({"name": "browser_action", "payload": {"name": "goto"}}),
        )
        .await;
    assert_eq!(missing.status, 404);

    // One agent task at a time; close refuses while it runs.
    let run = json!({"name": "run_task", "input": {"task": "Buy tea [mock:duration=150ms]", "max_steps": 10}});
    api.post(
        &format!("/task/{sid}/event"),
        json!({"name": "session_action", "id": "r1", "payload": run}),
    )
    .await;
    let second = api
        .action(
            &sid,
            "r2",
            "session_action",
            json!({"name": "run_task", "input": {"task": "Another"}}),
        )
        .await;
    assert_eq!(
        second["payload"],
        json!({"code": 400, "output": "An agent task is already running in this session"})
    );
    let refused = api
        .action(&sid, "c1", "session_action", json!({"name": "close"}))
        .await;
    assert_eq!(refused["payload"]["output"]["output"], false);
    assert_eq!(mock.task_status(&sid).as_deref(), Some("running"));
    let r1 = api.wait_event(&sid, "r1").await;
    assert_eq!(
        r1["payload"],
        json!({"code": 200, "output": {"output": "Simulated result for task: Buy tea", "credits_used": 3.0, "duration": 0.15}})
    );
    let run2 = api
        .action(
            &sid,
            "r3",
            "session_action",
            json!({"name": "run_task", "input": {"task": "Summarize [mock:duration=20ms]",
            "response_model": {"type": "object", "properties": {"summary": {"type": "string"}}}}}),
        )
        .await;
    assert_eq!(
        run2["payload"]["output"]["output"],
        json!({"summary": "example summary"})
    );

    let closed = api
        .action(&sid, "c2", "session_action", json!({"name": "close"}))
        .await;
    assert_eq!(closed["payload"]["output"]["output"], true);
    let rejected = api.post(&format!("/task/{sid}/event"), json!({"name": "browser_action", "payload": {"name": "goto", "input": {"url": "https://x.y/"}}})).await;
    assert_eq!(
        (rejected.status, rejected.body.clone()),
        (400, json!({"detail": "Session is closed"}))
    );
    mock.wait_terminal(&sid).await.unwrap();
    let done = api.get(&format!("/task/{sid}")).await;
    assert_eq!(
        (done.status, done.r()["status"].clone()),
        (200, json!("done"))
    );
    assert_eq!(done.r()["credits_used"], json!(3.6));
    assert_eq!(done.r()["live_url"], Value::Null);

    assert_eq!(mock.count("POST", "/task/*/event"), 16);
    assert_eq!(mock.count("POST", "/task/ghost/event"), 1);
    let first_event = mock
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/event"))
        .unwrap();
    assert_eq!(first_event.body.unwrap()["id"], "g1");
}

#[tokio::test]
async fn equal_timestamps_arrive_together() {
    // Actions posted while the session is still waiting queue up behind each other.
    let mock = MockSmooth::start(MockConfig {
        waiting: ms(300),
        ..fast()
    })
    .await
    .unwrap();
    let api = Api::new(&mock);
    let sid = api.session().await;
    for (id, payload) in [
        (
            "a",
            json!({"name": "goto", "input": {"url": "https://a.example/"}}),
        ),
        (
            "b",
            json!({"name": "evaluate_js", "input": {"js": "location.href"}}),
        ),
        (
            "c",
            json!({"name": "evaluate_js", "input": {"js": "\"same ms\""}}),
        ),
    ] {
        let body = json!({"name": "browser_action", "id": id, "payload": payload});
        assert_eq!(
            api.post(&format!("/task/{sid}/event"), body).await.status,
            200
        );
    }
    api.wait_event(&sid, "c").await;
    let all = api.get(&format!("/task/{sid}?event_t=0")).await;
    let events = all.r()["events"].as_array().unwrap();
    let stamps: Vec<i64> = events
        .iter()
        .map(|e| e["timestamp"].as_i64().unwrap())
        .collect();
    assert_eq!(stamps.len(), 3);
    assert!(stamps.iter().all(|t| *t == stamps[0]), "{stamps:?}");
    assert_eq!(
        events[1]["payload"]["output"]["output"],
        "https://a.example/"
    );
    assert_eq!(events[2]["payload"]["output"]["output"], "same ms");
}

#[tokio::test]
async fn tool_calls_park_the_agent() {
    let cfg = fast();
    let mock = MockSmooth::start(cfg.clone()).await.unwrap();
    let api = Api::new(&mock);
    let tool = json!({"name": "ask_user", "description": "Ask the user", "output": "the answer",
        "inputs": {"type": "object", "properties": {"question": {"type": "string"}}, "required": ["question"]}});
    // Declared tools alone are never called.
    let quiet = api
        .create(json!({"task": "No calls", "custom_tools": [tool]}))
        .await;
    mock.wait_terminal(&quiet).await.unwrap();
    let events = api.get(&format!("/task/{quiet}?event_t=0")).await;
    assert_eq!(events.r()["events"], json!([]));
    let id = api
        .create(json!({"task": "Book a table [mock:ask_user=example question]", "custom_tools": [tool]}))
        .await;
    let call = loop {
        let reply = api.get(&format!("/task/{id}?event_t=0")).await;
        if let Some(e) = reply.r()["events"].as_array().and_then(|e| e.first()) {
            break e.clone();
        }
    };
    assert_eq!(call["name"], "tool_call");
    assert_eq!(
        call["payload"],
        json!({"name": "ask_user", "input": {"question": "example question"}})
    );
    let call_id = call["id"].as_str().unwrap();
    // Parked: not finished well past its run time.
    assert!(
        tokio::time::timeout(cfg.run_time * 2, mock.wait_terminal(&id))
            .await
            .is_err()
    );
    assert_eq!(mock.task_status(&id).as_deref(), Some("running"));
    let wrong = api
        .post(
            &format!("/task/{id}/event"),
            json!({"name": "tool_call", "id": "call_nope", "payload": {"code": 200, "output": 1}}),
        )
        .await;
    assert_eq!(wrong.status, 400);
    let answered = api
        .post(&format!("/task/{id}/event"), json!({"name": "tool_call", "id": call_id, "payload": {"code": 200, "output": {"answer": "yes"}}}))
        .await;
    assert_eq!(
        (answered.status, answered.r()["id"].clone()),
        (200, json!(call_id))
    );
    let again = api
        .post(
            &format!("/task/{id}/event"),
            json!({"name": "tool_call", "id": call_id, "payload": {"code": 200, "output": 2}}),
        )
        .await;
    assert_eq!(again.status, 400);
    mock.wait_terminal(&id).await.unwrap();
    let done = api.get(&format!("/task/{id}")).await;
    assert_eq!(done.r()["status"], "done");
    let output = done.r()["output"].as_str().unwrap();
    assert!(output.contains(r#"{"answer":"yes"}"#), "{output}");

    // A directive tool unknown to the client, answered 400: the agent works around it.
    let id = api
        .create(json!({"task": "Check [mock:tool_call=mystery]"}))
        .await;
    api.wait_status(&id, "running").await;
    let call = loop {
        let reply = api.get(&format!("/task/{id}?event_t=0")).await;
        if let Some(e) = reply.r()["events"].as_array().and_then(|e| e.first()) {
            break e.clone();
        }
    };
    assert_eq!(call["payload"], json!({"name": "mystery", "input": {}}));
    api.post(&format!("/task/{id}/event"), json!({"name": "tool_call", "id": call["id"], "payload": {"code": 400, "output": "Unknown tool: mystery"}}))
        .await;
    mock.wait_terminal(&id).await.unwrap();
    let done = api.get(&format!("/task/{id}")).await;
    assert_eq!(done.r()["status"], "done");
    assert!(
        done.r()["output"]
            .as_str()
            .unwrap()
            .contains("worked around")
    );

    // A 500 answer is fatal.
    let id = api.create(json!({"task": "Fatal [mock:tool_call=t]", "custom_tools": [{"name": "t", "description": "d", "output": "o", "inputs": {}}]})).await;
    let call = loop {
        let reply = api.get(&format!("/task/{id}?event_t=0")).await;
        if let Some(e) = reply.r()["events"].as_array().and_then(|e| e.first()) {
            break e.clone();
        }
    };
    api.post(&format!("/task/{id}/event"), json!({"name": "tool_call", "id": call["id"], "payload": {"code": 500, "output": "db down"}}))
        .await;
    mock.wait_terminal(&id).await.unwrap();
    let failed = api.get(&format!("/task/{id}")).await;
    assert_eq!(failed.r()["status"], "failed");
    assert!(failed.r()["output"].as_str().unwrap().contains("db down"));
}

/// The first `tool_call` event of `task` whose id is not in `seen`.
async fn next_tool_call(api: &Api, task: &str, seen: &[String]) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = api.get(&format!("/task/{task}?event_t=0")).await;
        let events = reply.r()["events"].as_array().cloned().unwrap_or_default();
        if let Some(call) = events
            .into_iter()
            .find(|e| e["name"] == "tool_call" && !seen.iter().any(|s| e["id"] == s.as_str()))
        {
            return call;
        }
        assert!(
            Instant::now() < deadline,
            "no new tool call: {}",
            reply.body
        );
        tokio::time::sleep(ms(2)).await; // a poll interval, not synchronisation
    }
}

#[tokio::test]
async fn directives_make_calls_one_after_another_and_type_secrets() {
    let mock = MockSmooth::start(fast()).await.unwrap();
    let api = Api::new(&mock);
    let sid = api.session().await;
    let task = r#"Pay the bill [mock:tool_call=lookup {"order": "A-1"}] [mock:ask_user=Which account? | personal | business] [mock:type_secret=bank] [mock:type_secret=other]"#;
    let secrets = json!({"bank": {"value": "S3NT1NEL", "allowed_urls": ["https://bank.example/*", "https://id.bank.example/*"]}});
    let run = json!({"name": "run_task", "input": {"task": task, "secrets": secrets}});
    let posted = api
        .post(
            &format!("/task/{sid}/event"),
            json!({"name": "session_action", "id": "r1", "payload": run}),
        )
        .await;
    assert_eq!(posted.status, 200);

    let first = next_tool_call(&api, &sid, &[]).await;
    assert_eq!(
        first["payload"],
        json!({"name": "lookup", "input": {"order": "A-1"}})
    );
    let first_id = first["id"].as_str().unwrap().to_string();
    // The second call comes only after the first is answered (it would be due after 50 ms).
    assert!(
        tokio::time::timeout(
            ms(300),
            next_tool_call(&api, &sid, std::slice::from_ref(&first_id))
        )
        .await
        .is_err()
    );
    api.post(&format!("/task/{sid}/event"), json!({"name": "tool_call", "id": first_id, "payload": {"code": 200, "output": {"total": 12}}}))
        .await;
    let second = next_tool_call(&api, &sid, std::slice::from_ref(&first_id)).await;
    assert_eq!(
        second["payload"],
        json!({"name": "ask_user", "input": {"question": "Which account?", "choices": ["personal", "business"]}})
    );
    api.post(&format!("/task/{sid}/event"), json!({"name": "tool_call", "id": second["id"], "payload": {"code": 400, "output": "the user declined"}}))
        .await;
    let result = api.wait_event(&sid, "r1").await;
    assert_eq!(result["payload"]["code"], 200);
    assert_eq!(
        result["payload"]["output"]["output"],
        "Simulated result for task: Pay the bill \
         (tool 'lookup' returned {\"total\":12}) \
         (tool 'ask_user' failed with \"the user declined\"; the agent worked around it) \
         (typed bank (value S3NT1NEL) on https://bank.example/*, https://id.bank.example/*) \
         (secret other was not given)"
    );

    // Malformed secrets: the run is refused.
    for bad in [
        json!(["bank"]),
        json!({"bank": "S3NT1NEL"}),
        json!({"bank": {"value": "S3NT1NEL"}}),
        json!({"bank": {"value": "S3NT1NEL", "allowed_urls": []}}),
        json!({"bank": {"value": 7, "allowed_urls": ["https://bank.example/*"]}}),
    ] {
        let refused = api
            .action(
                &sid,
                &format!("bad-{bad}"),
                "session_action",
                json!({"name": "run_task", "input": {"task": "x", "secrets": bad}}),
            )
            .await;
        assert_eq!(refused["payload"]["code"], 400, "{bad}");
        assert!(
            refused["payload"]["output"]
                .as_str()
                .unwrap()
                .starts_with("run_task secrets must be"),
            "{refused}"
        );
    }
}

#[tokio::test]
async fn long_poll_holds_and_wakes() {
    let mock = MockSmooth::start(fast()).await.unwrap();
    let api = Api::new(&mock);
    let sid = api.session().await;
    api.wait_status(&sid, "running").await;
    let poll = {
        let (http, url) = (
            api.http.clone(),
            format!("{}/task/{sid}?event_t=0", api.base),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let resp = http.get(url).header("apikey", "k").send().await.unwrap();
            let status = resp.status().as_u16();
            (
                status,
                resp.json::<Value>().await.unwrap(),
                started.elapsed(),
            )
        })
    };
    tokio::time::sleep(ms(30)).await;
    assert!(!poll.is_finished(), "the poll should be held");
    api.post(&format!("/task/{sid}/event"), json!({"name": "browser_action", "id": "g", "payload": {"name": "goto", "input": {"url": "https://a.b/"}}}))
        .await;
    let (status, body, elapsed) = poll.await.unwrap();
    assert_eq!(status, 202);
    assert_eq!(body["r"]["events"][0]["id"], "g");
    assert!(elapsed < ms(1500), "woke on the event, took {elapsed:?}");

    // With nothing new it answers (empty) once long_poll elapses.
    let short = MockSmooth::start(MockConfig {
        long_poll: ms(120),
        ..fast()
    })
    .await
    .unwrap();
    let api = Api::new(&short);
    let sid = api.session().await;
    api.wait_status(&sid, "running").await;
    let started = Instant::now();
    let idle = api.get(&format!("/task/{sid}?event_t=0")).await;
    assert!(started.elapsed() >= ms(120));
    assert_eq!((idle.status, idle.r()["events"].clone()), (202, json!([])));
    assert_eq!(short.requests().last().unwrap().status, 202);
}

#[tokio::test]
async fn faults_and_control_surface() {
    let mock = MockSmooth::start(fast()).await.unwrap();
    let api = Api::new(&mock);
    mock.inject_fault(
        Fault::new("POST", "/task", 503)
            .with_times(2)
            .with_retry_after(7),
    );
    for _ in 0..2 {
        let reply = api.post("/task", json!({"task": "x"})).await;
        assert_eq!(reply.status, 503);
        assert_eq!(reply.headers["retry-after"], "7");
        assert_eq!(reply.body, json!({"detail": "Service Unavailable"}));
    }
    let id = api.create(json!({"task": "x"})).await;

    mock.inject_fault(Fault::new("GET", "/task/*", 502).with_detail("<<raw>>"));
    let raw = api.get(&format!("/task/{id}")).await;
    assert_eq!(
        (raw.status, raw.body.clone()),
        (502, json!("upstream exploded"))
    );
    assert!(
        raw.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );

    mock.inject_fault(
        Fault::new("GET", "/profile", 504)
            .with_delay(ms(150))
            .with_detail(json!({"why": "slow"})),
    );
    let started = Instant::now();
    let slow = Api::with_key(&mock, None).get("/profile").await;
    assert!(started.elapsed() >= ms(150));
    assert_eq!(
        (slow.status, slow.body.clone()),
        (504, json!({"detail": {"why": "slow"}}))
    );
    assert_eq!(api.get("/profile").await.status, 200);

    // Over HTTP, for out-of-process tests.
    let http = reqwest::Client::new();
    let control = format!("http://{}/_mock", mock.addr());
    let added = http
        .post(format!("{control}/faults"))
        .json(&json!({"method": "DELETE", "path": "/file/*", "status": 500, "delay_ms": 1, "detail": {"x": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status(), 200);
    let listed: Vec<Fault> = http
        .get(format!("{control}/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed,
        vec![
            Fault::new("DELETE", "/file/*", 500)
                .with_delay(ms(1))
                .with_detail(json!({"x": 1}))
        ]
    );
    let boom = api.delete("/file/abc").await;
    assert_eq!(
        (boom.status, boom.body.clone()),
        (500, json!({"detail": {"x": 1}}))
    );
    assert_eq!(api.delete("/file/abc").await.status, 404);
    let bad = http
        .post(format!("{control}/faults"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);

    let status: Value = http
        .get(format!("{control}/tasks/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["id"], id.as_str());
    assert!(status["status"].is_string());
    assert_eq!(
        http.get(format!("{control}/tasks/ghost"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let requests: Vec<RecordedRequest> = http
        .get(format!("{control}/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(requests, mock.requests());
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![503, 503, 200, 502, 504, 200, 500, 404]);
    assert_eq!(requests[0].body, Some(json!({"task": "x"})));
    assert_eq!(mock.count("POST", "/task"), 3);
    http.post(format!("{control}/reset")).send().await.unwrap();
    assert!(mock.requests().is_empty());
    mock.inject_fault(Fault::new("GET", "/task", 500));
    mock.reset();
    assert_eq!(api.get("/task").await.status, 200);
}

#[tokio::test]
async fn profiles_crud_and_cookie_domains() {
    let mock = MockSmooth::start(fast()).await.unwrap();
    let api = Api::new(&mock);
    let work = api.post("/profile", json!({"id": "work"})).await;
    assert_eq!(work.status, 200);
    assert_eq!(work.r()["id"], "work");
    assert_eq!(
        api.post("/profile", json!({"id": "work"})).await.status,
        409
    );
    let picked = api.post("/profile", json!({"id": null})).await;
    let picked_id = picked.r()["id"].as_str().unwrap().to_string();
    assert!(picked_id.starts_with("profile-"));
    assert_eq!(api.post("/profile", json!({"id": 5})).await.status, 422);
    api.post("/profile", json!({"id": "ro"})).await;

    // A session takes no start url (it navigates with goto); the mock says so, as Smooth does.
    let with_url = api
        .post(
            "/task",
            json!({"task": null, "profile_id": "work", "url": "https://mail.example.com/inbox"}),
        )
        .await;
    assert_eq!(with_url.status, 400);
    assert!(
        with_url.body["detail"].as_str().unwrap().contains("goto"),
        "{}",
        with_url.body
    );
    let sid = api
        .create(json!({"task": null, "profile_id": "work", "url": null}))
        .await;
    let ro = api
        .create(json!({"task": null, "profile_id": "ro", "profile_read_only": true}))
        .await;
    api.action(
        &sid,
        "g",
        "browser_action",
        json!({"name": "goto", "input": {"url": "https://shop.example.com/cart"}}),
    )
    .await;
    api.action(&sid, "c", "session_action", json!({"name": "close"}))
        .await;
    api.action(&ro, "c", "session_action", json!({"name": "close"}))
        .await;
    mock.wait_terminal(&sid).await.unwrap();
    mock.wait_terminal(&ro).await.unwrap();

    let list = api.get("/profile").await;
    let profiles = list.r().as_array().unwrap();
    assert_eq!(profiles.len(), 3);
    let work = profiles.iter().find(|p| p["id"] == "work").unwrap();
    assert_eq!(work["cookie_domains"], json!(["shop.example.com"]));
    assert!(work["cookie_count"].as_u64().unwrap() > 0);
    assert!(work["profile_size_bytes"].as_u64().unwrap() > 0);
    assert!(work["last_saved_at"].is_i64());
    let ro = profiles.iter().find(|p| p["id"] == "ro").unwrap();
    assert_eq!(ro["cookie_domains"], json!([]));
    assert_eq!(ro["last_saved_at"], Value::Null);

    assert_eq!(api.delete("/profile/work").await.r(), &json!(true));
    assert_eq!(api.delete("/profile/work").await.status, 404);
    assert_eq!(
        api.delete(&format!("/profile/{picked_id}")).await.status,
        200
    );
}

#[tokio::test]
async fn files_and_extensions() {
    let mock = MockSmooth::start(fast()).await.unwrap();
    let api = Api::new(&mock);
    let up = api
        .upload("/file", Some("report.pdf"), b"%PDF-", Some("invoice"))
        .await;
    assert_eq!(up.status, 200, "{}", up.body);
    let file_id = up.r()["id"].as_str().unwrap().to_string();
    assert!(file_id.starts_with("file-"));
    assert_eq!(
        mock.requests()[0].body,
        Some(json!({"file_name": "report.pdf", "size": 5, "file_purpose": "invoice"}))
    );
    let long = "p".repeat(65);
    assert_eq!(
        api.upload("/file", Some("a.txt"), b"a", Some(&long))
            .await
            .status,
        422
    );
    assert_eq!(api.upload("/file", None, b"a", None).await.status, 422);
    assert_eq!(api.post("/file", json!({"file": "x"})).await.status, 422);
    api.create(json!({"task": "Use it", "files": [file_id]}))
        .await;
    assert_eq!(
        api.delete(&format!("/file/{file_id}")).await.r(),
        &json!(true)
    );
    assert_eq!(api.delete(&format!("/file/{file_id}")).await.status, 404);

    let ext = api
        .upload("/extension", Some("adblock.zip"), b"PK\x03\x04", None)
        .await;
    let ext_id = ext.r()["id"].as_str().unwrap().to_string();
    assert!(ext_id.starts_with("ext-"));
    let other = api
        .upload("/extension", Some("other.ZIP"), b"PK", None)
        .await;
    let other_id = other.r()["id"].as_str().unwrap().to_string();
    assert_eq!(
        api.upload("/extension", Some("x.crx"), b"Cr24", None)
            .await
            .status,
        422
    );
    let list = api.get("/extension").await;
    let items = list.r().as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0]["id"], ext_id.as_str());
    assert_eq!(items[0]["file_name"], "adblock.zip");
    assert!(items[0]["creation_time"].is_i64());
    api.create(json!({"task": "With ext", "extensions": [ext_id]}))
        .await;
    assert_eq!(
        api.delete(&format!("/extension/{ext_id}")).await.status,
        200
    );
    assert_eq!(
        api.delete(&format!("/browser/extension/{other_id}"))
            .await
            .status,
        200
    );
    assert_eq!(
        api.delete(&format!("/extension/{ext_id}")).await.status,
        404
    );
    assert_eq!(api.get("/extension").await.r(), &json!([]));
}

#[tokio::test]
async fn list_filters_and_dash_ids() {
    let mock = MockSmooth::start(fast()).await.unwrap();
    let api = Api::new(&mock);
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            api.create(json!({"task": format!("task {i} [mock:duration=60s]")}))
                .await,
        );
    }
    assert!(
        ids[6].starts_with('-'),
        "the 7th id starts with '-': {}",
        ids[6]
    );
    assert!(ids[..6].iter().all(|id| !id.starts_with('-')));
    let dash = api.get(&format!("/task/{}", ids[6])).await;
    assert_eq!(dash.r()["id"], ids[6].as_str());

    let two = api.get("/task?l=2").await;
    let listed: Vec<&str> = two
        .r()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[6].as_str(), ids[5].as_str()]);
    let all = api.get("/task").await;
    let all = all.r().as_array().unwrap().clone();
    assert_eq!(all.len(), 7);
    assert!(
        all.iter()
            .all(|t| t.get("events").is_some_and(Value::is_null))
    );
    let newest = all[0]["created_at"].as_i64().unwrap();
    assert_eq!(
        api.get(&format!("/task?t={}", newest + 1))
            .await
            .r()
            .as_array()
            .unwrap()
            .len(),
        7
    );
    let older = all
        .iter()
        .filter(|t| t["created_at"].as_i64().unwrap() < newest)
        .count();
    assert_eq!(
        api.get(&format!("/task?t={newest}"))
            .await
            .r()
            .as_array()
            .unwrap()
            .len(),
        older
    );
    assert_eq!(api.get("/task?t=0").await.r(), &json!([]));
    assert_eq!(api.delete(&format!("/task/{}", ids[6])).await.status, 200);
}

#[tokio::test]
async fn shutdown_releases_long_polls() {
    let mock = MockSmooth::start(MockConfig {
        long_poll: Duration::from_secs(20),
        ..fast()
    })
    .await
    .unwrap();
    let api = Api::new(&mock);
    let sid = api.session().await;
    api.wait_status(&sid, "running").await;
    let url = format!("{}/task/{sid}?event_t=0", api.base);
    let poll = tokio::spawn(async move {
        reqwest::Client::new()
            .get(url)
            .header("apikey", "k")
            .send()
            .await
            .map(|r| r.status().as_u16())
    });
    tokio::time::sleep(ms(30)).await;
    let started = Instant::now();
    let addr = mock.addr();
    mock.shutdown().await;
    let status = poll.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(matches!(status, Ok(202) | Err(_)), "{status:?}");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn latency_is_added() {
    let mock = MockSmooth::start(MockConfig {
        latency: ms(60),
        ..fast()
    })
    .await
    .unwrap();
    let api = Api::new(&mock);
    let started = Instant::now();
    assert_eq!(api.get("/profile").await.status, 200);
    assert!(started.elapsed() >= ms(60));
}

#[test]
fn fault_json_roundtrip_and_patterns() {
    let f: Fault =
        serde_json::from_value(json!({"method": "GET", "path": "/task/*", "status": 503})).unwrap();
    assert_eq!(f, Fault::new("GET", "/task/*", 503));
    let full = Fault::new("POST", "/task/*/event", 500)
        .with_times(3)
        .with_retry_after(2)
        .with_detail("<<raw>>")
        .with_delay(ms(250));
    let v = serde_json::to_value(&full).unwrap();
    assert_eq!(v["delay_ms"], 250);
    assert_eq!(serde_json::from_value::<Fault>(v).unwrap(), full);
    assert!(full.matches("post", "/task/-abc/event"));
    assert!(!full.matches("POST", "/task/abc"));
    assert!(!full.matches("POST", "/task/a/b/event"));
    assert!(path_matches("/task", "/task"));
    assert!(!path_matches("/task/*", "/task"));
}

// ---------------------------------------------------------------------------------------
// Downloads archives

/// A finished task's `downloads_url` (`fast()` publishes links at the end).
async fn downloads_url(mock: &MockSmooth, api: &Api, id: &str) -> Value {
    mock.wait_terminal(id).await.unwrap();
    api.get(&format!("/task/{id}?downloads=true")).await.r()["downloads_url"].clone()
}

struct Download {
    status: u16,
    content_type: String,
    content_length: Option<usize>,
    body: Vec<u8>,
}

/// A plain GET, as a client fetching a presigned link does (no `apikey` unless given).
async fn download(url: &str, apikey: Option<&str>) -> Download {
    let mut req = reqwest::Client::new().get(url);
    if let Some(key) = apikey {
        req = req.header("apikey", key);
    }
    let resp = req.send().await.unwrap();
    let header = |name| {
        resp.headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_string())
    };
    let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
    let content_length = header(reqwest::header::CONTENT_LENGTH).map(|l| l.parse().unwrap());
    Download {
        status: resp.status().as_u16(),
        content_type,
        content_length,
        body: resp.bytes().await.unwrap().to_vec(),
    }
}

type Archive = ::zip::ZipArchive<std::io::Cursor<Vec<u8>>>;

fn unzip(d: &Download) -> Archive {
    assert_eq!(d.status, 200, "{}", String::from_utf8_lossy(&d.body));
    assert_eq!(d.content_type, "application/zip");
    assert_eq!(d.content_length, Some(d.body.len()));
    ::zip::ZipArchive::new(std::io::Cursor::new(d.body.clone())).unwrap()
}

fn names(archive: &Archive) -> Vec<String> {
    archive
        .file_names()
        .map(|n| n.unwrap().to_string())
        .collect()
}

fn contents(archive: &mut Archive, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name(name).unwrap(), &mut out).unwrap();
    out
}

/// A PDF whose header, stream length and cross-reference offsets all check out.
fn assert_valid_pdf(pdf: &[u8]) {
    // Binary bytes masked, so that offsets in `text` are offsets in `pdf`.
    let masked = pdf.iter().map(|b| if b.is_ascii() { *b } else { b'?' });
    let text = String::from_utf8(masked.collect()).unwrap();
    assert!(pdf.starts_with(b"%PDF-1."), "{text}");
    assert!(text.ends_with("%%EOF\n"), "{text}");
    let startxref: usize = text
        .rsplit_once("startxref\n")
        .unwrap()
        .1
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let table = &text[startxref..];
    let mut lines = table.lines();
    assert_eq!(lines.next(), Some("xref"));
    let (first, count) = lines.next().unwrap().split_once(' ').unwrap();
    assert_eq!(first, "0");
    let count: usize = count.parse().unwrap();
    // Entries are fixed-width, 20 bytes each.
    let entries_at = startxref + "xref\n0 N\n".len() + count.to_string().len() - 1;
    for i in 0..count {
        let entry = &pdf[entries_at + 20 * i..entries_at + 20 * (i + 1)];
        let entry = std::str::from_utf8(entry).unwrap();
        assert!(entry.ends_with(" \n"), "{entry:?}");
        if i == 0 {
            assert_eq!(entry, "0000000000 65535 f \n");
            continue;
        }
        let offset: usize = entry[..10].parse().unwrap();
        assert!(
            text[offset..].starts_with(&format!("{i} 0 obj\n")),
            "object {i} is not at {offset}"
        );
    }
    assert!(
        table.contains(&format!("/Size {count} /Root 1 0 R")),
        "{table}"
    );
    let length: usize = text
        .split_once("/Length ")
        .unwrap()
        .1
        .split_once(' ')
        .unwrap()
        .0
        .parse()
        .unwrap();
    let stream = text.split_once("stream\n").unwrap().1;
    assert_eq!(stream.find("endstream"), Some(length));
}

#[tokio::test]
async fn downloads_are_real_archives_behind_presigned_links() {
    let mock = MockSmooth::start(MockConfig {
        recording_delay: Duration::ZERO,
        ..fast()
    })
    .await
    .unwrap();
    let api = Api::new(&mock);
    // Six plain tasks first, so the one with downloads gets a `-` id (every 7th does).
    let mut plain = Vec::new();
    for _ in 0..6 {
        plain.push(api.create(json!({"task": "x [mock:duration=10ms]"})).await);
    }
    let id = api
        .create(
            json!({"task": "Get the invoices [mock:duration=10ms] [mock:download]",
            "additional_tools": {"screenshot": null, "print_page": {}}}),
        )
        .await;
    assert!(id.starts_with('-'), "{id}");

    // The link is the mock's own, at the address the client used, presigned.
    let url = downloads_url(&mock, &api, &id).await;
    let url = url.as_str().unwrap();
    let (path, query) = url.split_once('?').unwrap();
    assert_eq!(path, format!("http://{}/_downloads/{id}.zip", mock.addr()));
    let params: Vec<(&str, &str)> = query
        .split('&')
        .map(|p| p.split_once('=').unwrap())
        .collect();
    assert_eq!(params[0], ("X-Amz-Expires", "86400"));
    assert_eq!(params[1].0, "X-Amz-Signature");
    assert!(params[1].1.len() >= 32, "{query}");
    let localhost = url.replace("127.0.0.1", "localhost");
    let via = reqwest::Client::new()
        .get(format!(
            "http://localhost:{}/api/v1/task/{id}?downloads=true",
            mock.addr().port()
        ))
        .header("apikey", "cmzr-test")
        .send()
        .await
        .unwrap();
    let via: Value = via.json().await.unwrap();
    assert_eq!(
        via["r"]["downloads_url"],
        localhost.as_str(),
        "built from Host"
    );

    let d = download(url, None).await;
    let mut archive = unzip(&d);
    assert_eq!(
        names(&archive),
        ["report.csv", "invoice.pdf", "screenshot.png", "page.pdf"]
    );
    let csv = String::from_utf8(contents(&mut archive, "report.csv")).unwrap();
    let mut rows = csv.lines();
    assert_eq!(rows.next(), Some("date,item,quantity,unit_price_eur"));
    assert!(rows.clone().count() >= 3);
    assert!(rows.all(|r| r.split(',').count() == 4), "{csv}");
    assert_valid_pdf(&contents(&mut archive, "invoice.pdf"));
    assert_valid_pdf(&contents(&mut archive, "page.pdf"));
    let png = contents(&mut archive, "screenshot.png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    assert_eq!((be(16), be(20)), (2400, 1500));
    assert_eq!((png[24], png[25]), (8, 2), "8-bit RGB");
    assert!(
        (200_000..1_500_000).contains(&png.len()),
        "a screenshot's size, not a flat image's: {}",
        png.len()
    );
    // Deterministic: the same bytes on every fetch (and through `localhost`).
    assert_eq!(download(&localhost, None).await.body, d.body);

    // S3's manners: one auth mechanism, signed links only.
    let both = download(url, Some("cmzr-test")).await;
    assert_eq!(both.status, 400);
    assert!(
        String::from_utf8_lossy(&both.body).contains("<Code>InvalidArgument</Code>"),
        "{}",
        String::from_utf8_lossy(&both.body)
    );
    let tampered = format!("{path}?X-Amz-Expires=86400&X-Amz-Signature=0000");
    let forged = download(&tampered, None).await;
    assert_eq!(forged.status, 403);
    assert!(String::from_utf8_lossy(&forged.body).contains("<Code>SignatureDoesNotMatch</Code>"));
    assert_eq!(download(path, None).await.status, 403, "unsigned");
    let ghost = url.replace(&format!("/{id}.zip"), "/ghost.zip");
    assert_eq!(download(&ghost, None).await.status, 404);
    // A task without downloads has no archive, even with its right signature.
    let plain_sig = mock.inner.world().tasks[&plain[0]]
        .download_signature()
        .to_string();
    mock.wait_terminal(&plain[0]).await.unwrap();
    let none = format!(
        "http://{}/_downloads/{}.zip?X-Amz-Signature={plain_sig}",
        mock.addr(),
        plain[0]
    );
    assert_eq!(download(&none, None).await.status, 404);

    // Faults reach the downloads host too.
    mock.inject_fault(Fault::new("GET", "/_downloads/*", 503));
    assert_eq!(download(url, None).await.status, 503);
    assert_eq!(download(url, None).await.status, 200);

    // Fetches are recorded, with the key they carried (if any).
    let fetched: Vec<Option<String>> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("/_downloads/{id}.zip"))
        .map(|r| r.apikey)
        .collect();
    assert_eq!(fetched.len(), 7);
    assert_eq!(fetched.iter().flatten().count(), 1);
}

#[tokio::test]
async fn downloads_links_wait_for_the_artifacts() {
    let mock = MockSmooth::start(MockConfig {
        recording_delay: Duration::from_secs(60),
        ..fast()
    })
    .await
    .unwrap();
    let api = Api::new(&mock);
    let id = api
        .create(json!({"task": "x [mock:duration=10ms] [mock:download]"}))
        .await;
    assert_eq!(downloads_url(&mock, &api, &id).await, Value::Null);
    let sig = mock.inner.world().tasks[&id]
        .download_signature()
        .to_string();
    let early = format!(
        "http://{}/_downloads/{id}.zip?X-Amz-Signature={sig}",
        mock.addr()
    );
    assert_eq!(
        download(&early, None).await.status,
        404,
        "not published yet"
    );
}

#[tokio::test]
async fn hostile_archives() {
    let mock = MockSmooth::start(MockConfig {
        recording_delay: Duration::ZERO,
        ..fast()
    })
    .await
    .unwrap();
    let api = Api::new(&mock);
    let mut ids = Vec::new();
    for kind in ["zip_slip", "symlink", "many_entries", "zip_bomb"] {
        let task = format!("x [mock:duration=10ms] [mock:archive={kind}]");
        ids.push(api.create(json!({ "task": task })).await);
    }
    let mut archives = Vec::new();
    for id in &ids {
        let url = downloads_url(&mock, &api, id).await;
        archives.push(unzip(&download(url.as_str().unwrap(), None).await));
    }
    let [slip, link, many, bomb] = &mut archives[..] else {
        unreachable!()
    };

    assert_eq!(
        names(slip),
        ["report.csv", "../../evil.txt", "/tmp/evil.txt"]
    );
    assert!(
        slip.by_name("report.csv")
            .unwrap()
            .enclosed_name()
            .is_some()
    );
    // (The zip crate itself would refuse the `..` one; it makes the absolute one relative.)
    assert!(
        slip.by_name("../../evil.txt")
            .unwrap()
            .enclosed_name()
            .is_none()
    );

    assert_eq!(names(link), ["link", "readme.txt"]);
    const S_IFMT: u32 = 0o170_000;
    let mode = |a: &mut Archive, name: &str| a.by_name(name).unwrap().unix_mode().unwrap();
    assert_eq!(
        mode(link, "link") & S_IFMT,
        0o120_000,
        "a symlink by its mode"
    );
    assert!(link.by_name("link").unwrap().is_symlink());
    assert_eq!(contents(link, "link"), b"/etc/passwd");
    assert_eq!(
        mode(link, "readme.txt") & S_IFMT,
        0o100_000,
        "a regular file"
    );

    assert_eq!(many.len(), 10_000);
    assert_eq!(
        names(many)
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len(),
        10_000
    );

    assert_eq!(bomb.len(), 1);
    let (size, packed) = {
        let zeros = bomb.by_index(0).unwrap();
        (zeros.size(), zeros.compressed_size())
    };
    assert!(size > 100 * 1024 * 1024, "{size}");
    assert!(size / packed > 100, "ratio {size} / {packed}");
    // A prefix of it inflates to zeros (the whole would be 200 MiB).
    let mut head = vec![1u8; 64 * 1024];
    std::io::Read::read_exact(&mut bomb.by_index(0).unwrap(), &mut head).unwrap();
    assert!(head.iter().all(|b| *b == 0));
}

#[tokio::test]
async fn unknown_archive_kinds_are_refused() {
    let mock = MockSmooth::start(fast()).await.unwrap();
    let api = Api::new(&mock);
    let bad = api
        .post("/task", json!({"task": "x [mock:archive=tarpit]"}))
        .await;
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert_eq!(locs(&bad), [json!(["body", "task"])]);
    assert!(
        bad.body["detail"][0]["msg"]
            .as_str()
            .unwrap()
            .contains("\"tarpit\""),
        "{}",
        bad.body
    );
    let sid = api.session().await;
    let refused = api
        .action(
            &sid,
            "r1",
            "session_action",
            json!({"name": "run_task", "input": {"task": "x [mock:archive=tarpit]"}}),
        )
        .await;
    assert_eq!(refused["payload"]["code"], 400, "{refused}");
}

#[tokio::test]
async fn spoiling_faults_act_first_and_restart_forgets_tasks() {
    let mock = MockSmooth::start(fast()).await.unwrap();
    let api = Api::new(&mock);
    let task = json!({"task": "t"});
    // Over the control surface, as `smooth-mcp mock` users would.
    let fault = json!({"method": "POST", "path": "/task", "status": 200, "mode": "reset_after"});
    let http = reqwest::Client::new();
    let added = http
        .post(format!("http://{}/_mock/faults", mock.addr()))
        .json(&fault)
        .send()
        .await
        .unwrap();
    assert!(added.status().is_success());
    let cut = http
        .post(format!("{}/task", mock.base_url()))
        .header("apikey", "k")
        .json(&task)
        .send()
        .await;
    let lost = match cut {
        Err(_) => true,
        Ok(r) => r.text().await.is_err(),
    };
    assert!(lost, "the answer was cut");
    assert_eq!(mock.created_tasks().len(), 1, "the task was created first");

    mock.inject_fault(Fault::broken("POST", "/task", FaultMode::ResetBefore));
    if let Ok(r) = http
        .post(format!("{}/task", mock.base_url()))
        .header("apikey", "k")
        .json(&task)
        .send()
        .await
    {
        assert!(r.text().await.is_err(), "no complete answer");
    }
    assert_eq!(mock.created_tasks().len(), 1, "nothing acted on");

    mock.inject_fault(Fault::broken("POST", "/task", FaultMode::WrongShape));
    let shaped = api.post("/task", task.clone()).await;
    assert_eq!(shaped.status, 200);
    assert!(shaped.body["r"].is_null() && shaped.body["result"]["id"].is_string());
    let id = shaped.body["result"]["id"].as_str().unwrap().to_owned();

    mock.inject_fault(Fault::broken("GET", "/task/*", FaultMode::Truncate));
    let truncated = http
        .get(format!("{}/task/{id}", mock.base_url()))
        .header("apikey", "k")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(serde_json::from_str::<Value>(&truncated).is_err());

    mock.restart();
    assert_eq!(api.get(&format!("/task/{id}")).await.status, 404);
    assert_eq!(
        mock.created_tasks().len(),
        2,
        "the record of what was created stays"
    );
}
