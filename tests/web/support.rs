//! What the web tests share: API tokens per role, users, a review item, and a
//! cookie-keeping page client for tests that do not need a real browser.

use std::collections::HashMap;

use leadgate::settings::{ApiToken, Role, Secret};
use leadgate::users::{self, Login, NewUser, Password};
use serde_json::{json, Value};

use crate::helpers::{appeal, spawn_app_with, TestApp, TOKEN};

pub const OPERATOR_TOKEN: &str = "operator-token-0123456789";
pub const MANAGER_TOKEN: &str = "manager-token-0123456789";
pub const HEAD_TOKEN: &str = "head-token-0123456789abc";
pub const PASSWORD: &str = "correct horse battery";

/// The shipped configuration plus one API token per role.
pub async fn spawn_web_app() -> TestApp {
    spawn_web_app_with(|_| {}).await
}

pub async fn spawn_web_app_with(
    configure: impl FnOnce(&mut leadgate::settings::Settings),
) -> TestApp {
    spawn_app_with(|s| {
        for (name, token, role) in [
            ("operator", OPERATOR_TOKEN, Role::Operator),
            ("manager", MANAGER_TOKEN, Role::Manager),
            // A head reads what their department does: the shipped head of sales.
            ("smirnova", HEAD_TOKEN, Role::Head),
        ] {
            s.api.tokens.push(ApiToken {
                name: name.into(),
                token: Secret::new(token),
                role,
            });
        }
        configure(s);
    })
    .await
}

/// A user who can log in with [`PASSWORD`].
pub async fn create_user(app: &TestApp, login: &str, role: Role) {
    users::add_user(
        &app.store,
        NewUser {
            login: Login::parse(login).unwrap(),
            display_name: Some(format!("Пользователь {login}")),
            role,
            department: None,
            password: Password::parse(PASSWORD).unwrap(),
        },
    )
    .await
    .unwrap();
}

pub async fn api(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client
        .request(method.parse().unwrap(), app.url(path))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    if status >= 400 {
        assert_eq!(ct, "application/problem+json", "{method} {path}: {body}");
    }
    (status, body)
}

/// Two clients and an appeal whose phone is one's and email the other's.
pub struct ReviewFixture {
    /// Has the phone `+7 912 300-00-01`.
    pub client_a: i64,
    pub interest_a: i64,
    /// Has the email `shared@example.ru`.
    pub client_b: i64,
    pub appeal_id: i64,
    pub review_id: i64,
}

/// `n` makes the fixture's contact points unique, so one app can hold several.
pub async fn review_fixture_n(app: &TestApp, n: u32, name: &str) -> ReviewFixture {
    let phone = format!("+7 912 300-00-{:02}", n);
    let email = format!("shared{n}@example.ru");
    let a = app
        .post_and_process(&appeal(
            "crm",
            &format!("a{n}"),
            json!({"name": "Анна Кузнецова", "phones": [phone]}),
        ))
        .await;
    let b = app
        .post_and_process(&appeal(
            "crm",
            &format!("b{n}"),
            json!({"name": "ООО Ромашка", "emails": [email]}),
        ))
        .await;
    let c = app.post_and_process(&appeal(
            "site",
            &format!("c{n}"),
            json!({"name": name, "phones": [phone, format!("+7 912 400-00-{:02}", n)], "emails": [email]}),
        ),
    )
    .await;
    assert_eq!(c["status"], "review", "{c}");
    let appeal_id = c["id"].as_i64().unwrap();
    let (_, queue) = api(app, "GET", "/api/v1/review?limit=200", TOKEN, None).await;
    let review_id = queue["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["appeal"]["id"] == appeal_id)
        .expect("item in the queue")["id"]
        .as_i64()
        .unwrap();
    ReviewFixture {
        client_a: a["client_id"].as_i64().unwrap(),
        interest_a: a["interest_id"].as_i64().unwrap(),
        client_b: b["client_id"].as_i64().unwrap(),
        appeal_id,
        review_id,
    }
}

pub async fn review_fixture(app: &TestApp) -> ReviewFixture {
    review_fixture_n(app, 1, "Анна К.").await
}

/// A page client without JavaScript: keeps cookies the way a browser does for
/// one site, and follows nothing by itself.
pub struct PageClient {
    pub base: String,
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
    pub last_set_cookies: Vec<String>,
    pub last_retry_after: Option<String>,
}

pub struct Page {
    pub status: u16,
    pub location: Option<String>,
    pub body: String,
}

impl PageClient {
    pub fn new(app: &TestApp) -> Self {
        PageClient {
            base: app.address.clone(),
            http: app.client.clone(),
            cookies: HashMap::new(),
            last_set_cookies: Vec::new(),
            last_retry_after: None,
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, resp: reqwest::Response) -> Page {
        self.last_set_cookies.clear();
        self.last_retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        for v in resp.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap().to_string();
            let pair = v.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || v.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
            self.last_set_cookies.push(v);
        }
        Page {
            status: resp.status().as_u16(),
            location: resp
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string()),
            body: resp.text().await.unwrap(),
        }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// Logs in through the login form, as a person would.
    pub async fn login(&mut self, login: &str, password: &str) -> Page {
        let form = self.get("/ui/login?next=%2Fui%2Freview").await;
        assert_eq!(form.status, 200);
        let csrf = hidden_field(&form.body, "csrf").expect("csrf field on the login form");
        self.post(
            "/ui/login",
            &[
                ("login", login),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/ui/review"),
            ],
        )
        .await
    }
}

/// The value of the first hidden input called `name` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}
