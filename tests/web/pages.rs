use leadgate::settings::Role;
use serde_json::json;

use crate::helpers::{appeal, scalar, scalar_with};
use crate::support::*;

#[tokio::test]
async fn without_a_session_pages_send_the_browser_to_the_login_form() {
    let app = spawn_web_app().await;
    let mut page = PageClient::new(&app);
    for path in ["/ui", "/ui/review", "/ui/review?item=3"] {
        let resp = page.get(path).await;
        assert_eq!(resp.status, 303, "{path}");
        let location = resp.location.unwrap();
        assert!(location.starts_with("/ui/login?next=%2Fui"), "{location}");
    }
    let resp = page
        .post("/ui/review/1/decision", &[("action", "spam")])
        .await;
    assert_eq!(resp.status, 303);
    assert_eq!(resp.location.as_deref(), Some("/ui/login?next=%2Fui"));
}

#[tokio::test]
async fn logging_in_opens_a_server_side_session_with_a_safe_cookie() {
    let app = spawn_web_app().await;
    create_user(&app, "operator1", Role::Operator).await;
    let mut page = PageClient::new(&app);
    let wrong = page.login("operator1", "not the password").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("Неверный логин или пароль"));
    let unknown = page.login("nobody", PASSWORD).await;
    assert_eq!(unknown.status, 401);
    assert!(!page.cookies.contains_key("lg_session"));

    let ok = page.login("operator1", PASSWORD).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location.as_deref(), Some("/ui/review"));
    let cookie = page
        .last_set_cookies
        .iter()
        .find(|c| c.starts_with("lg_session="))
        .expect("session cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/ui", "Max-Age=43200"] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http in the shipped config"
    );
    // Only a digest of the cookie is stored.
    let token = page.cookies["lg_session"].clone();
    assert_eq!(
        scalar_with(
            &app.store,
            "SELECT COUNT(*) FROM sessions WHERE id_hash = $1",
            &token
        )
        .await,
        0
    );
    assert_eq!(scalar(&app.store, "SELECT COUNT(*) FROM sessions").await, 1);

    let home = page.get("/ui").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("Пользователь operator1"));
    assert!(home.body.contains("href=\"/ui/review\""));
    // The login page does not ask again.
    assert_eq!(page.get("/ui/login").await.status, 303);
}

#[tokio::test]
async fn login_follows_only_our_own_pages() {
    let app = spawn_web_app().await;
    create_user(&app, "operator1", Role::Operator).await;
    for (next, expected) in [
        ("https://evil.example/", "/ui"),
        ("//evil.example/ui", "/ui"),
        ("/ui/review?item=1", "/ui/review?item=1"),
        ("/ui//evil.example", "/ui"),
    ] {
        let mut page = PageClient::new(&app);
        let form = page.get("/ui/login").await;
        let csrf = hidden_field(&form.body, "csrf").unwrap();
        let resp = page
            .post(
                "/ui/login",
                &[
                    ("login", "operator1"),
                    ("password", PASSWORD),
                    ("csrf", &csrf),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(resp.location.as_deref(), Some(expected), "{next}");
    }
}

#[tokio::test]
async fn a_login_form_posted_from_elsewhere_is_refused() {
    let app = spawn_web_app().await;
    create_user(&app, "operator1", Role::Operator).await;
    let mut page = PageClient::new(&app);
    // No login cookie: the form did not come from our page.
    let resp = page
        .post(
            "/ui/login",
            &[
                ("login", "operator1"),
                ("password", PASSWORD),
                ("csrf", "guess"),
            ],
        )
        .await;
    assert_eq!(resp.status, 403);
    assert!(!page.cookies.contains_key("lg_session"));
}

#[tokio::test]
async fn the_wrong_role_gets_a_403_page() {
    let app = spawn_web_app().await;
    create_user(&app, "manager1", Role::Manager).await;
    let f = review_fixture(&app).await;
    let mut page = PageClient::new(&app);
    assert_eq!(page.login("manager1", PASSWORD).await.status, 303);
    let resp = page.get("/ui/review").await;
    assert_eq!(resp.status, 403);
    assert!(resp.body.contains("Недостаточно прав"));
    let home = page.get("/ui").await;
    let csrf = hidden_field(&home.body, "csrf").unwrap();
    let resp = page
        .post(
            &format!("/ui/review/{}/decision", f.review_id),
            &[("csrf", &csrf), ("action", "spam")],
        )
        .await;
    assert_eq!(resp.status, 403);
    let (_, queue) = api(&app, "GET", "/api/v1/review", OPERATOR_TOKEN, None).await;
    assert_eq!(queue["count"], 1);
}

#[tokio::test]
async fn a_decision_without_the_session_s_csrf_token_is_refused() {
    let app = spawn_web_app().await;
    create_user(&app, "operator1", Role::Operator).await;
    create_user(&app, "operator2", Role::Operator).await;
    let f = review_fixture(&app).await;
    let path = format!("/ui/review/{}/decision", f.review_id);
    let mut other = PageClient::new(&app);
    other.login("operator2", PASSWORD).await;
    let others_token = hidden_field(&other.get("/ui/review").await.body, "csrf").unwrap();
    let mut page = PageClient::new(&app);
    page.login("operator1", PASSWORD).await;
    for form in [
        vec![("action", "spam")],
        vec![("action", "spam"), ("csrf", "")],
        vec![("action", "spam"), ("csrf", "forged")],
        vec![("action", "spam"), ("csrf", others_token.as_str())],
    ] {
        let resp = page.post(&path, &form).await;
        assert_eq!(resp.status, 403, "{form:?}");
        assert!(resp.body.contains("Форма устарела"));
    }
    let (_, queue) = api(&app, "GET", "/api/v1/review", OPERATOR_TOKEN, None).await;
    assert_eq!(queue["count"], 1, "nothing decided");

    let html = page.get("/ui/review").await.body;
    let csrf = hidden_field(&html, "csrf").unwrap();
    let client_a = f.client_a.to_string();
    let resp = page
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("action", "link"),
                ("client_id", &client_a),
            ],
        )
        .await;
    assert_eq!(resp.status, 303);
    assert_eq!(
        resp.location,
        Some(format!("/ui/review?decided={}", f.review_id))
    );
    let done = page.get(resp.location.as_deref().unwrap()).await;
    assert!(done.body.contains("queue-empty"), "{}", done.body);
    let (_, a) = api(
        &app,
        "GET",
        &format!("/api/v1/appeals/{}", f.appeal_id),
        OPERATOR_TOKEN,
        None,
    )
    .await;
    assert_eq!(a["interest_id"], f.interest_a);
    // Deciding it again from a stale page says so instead of failing.
    let again = page
        .post(&path, &[("csrf", &csrf), ("action", "spam")])
        .await;
    assert_eq!(again.status, 409);
}

#[tokio::test]
async fn names_with_markup_are_shown_as_text() {
    let app = spawn_web_app().await;
    create_user(&app, "operator1", Role::Operator).await;
    app.post_and_process(&appeal(
        "crm",
        "x1",
        json!({"name": "<img src=x onerror=alert(1)>", "phones": ["+7 912 700-00-01"]}),
    ))
    .await;
    app.post_and_process(&appeal(
        "crm",
        "x2",
        json!({"name": "\"><script>alert(2)</script>", "emails": ["xss@example.ru"]}),
    ))
    .await;
    let mut body = appeal(
        "site",
        "x3",
        json!({"name": "<b onclick='alert(3)'>Злой</b>", "company": "A&B <i>", "phones": ["+7 912 700-00-01"], "emails": ["xss@example.ru"]}),
    );
    body["subject"] = json!("</textarea><script>alert(4)</script>");
    body["text"] = json!("<a href=\"javascript:alert(5)\">жми</a>");
    let c = app.post_and_process(&body).await;
    assert_eq!(c["status"], "review");
    let mut page = PageClient::new(&app);
    page.login("operator1", PASSWORD).await;
    let html = page.get("/ui/review").await.body;
    for raw in [
        "<img src=x",
        "<script>alert",
        "<b onclick",
        "<i>",
        "<a href=\"javascript",
    ] {
        assert!(!html.contains(raw), "{raw} must be escaped");
    }
    for escaped in [
        "&lt;img src=x onerror=alert(1)&gt;",
        "&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;",
        "&lt;b onclick=&#39;alert(3)&#39;&gt;Злой&lt;/b&gt;",
        "A&amp;B &lt;i&gt;",
        "&lt;/textarea&gt;&lt;script&gt;alert(4)&lt;/script&gt;",
    ] {
        assert!(html.contains(escaped), "{escaped} in the page");
    }
    let resp = app
        .client
        .get(app.url("/ui/review"))
        .header(
            "cookie",
            format!("lg_session={}", page.cookies["lg_session"]),
        )
        .send()
        .await
        .unwrap();
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

#[tokio::test]
async fn logging_out_ends_the_session_everywhere() {
    let app = spawn_web_app().await;
    create_user(&app, "operator1", Role::Operator).await;
    let mut page = PageClient::new(&app);
    page.login("operator1", PASSWORD).await;
    let stolen = page.cookies["lg_session"].clone();
    let csrf = hidden_field(&page.get("/ui").await.body, "csrf").unwrap();
    let out = page.post("/ui/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, 303);
    assert!(!page.cookies.contains_key("lg_session"));
    // A copy of the old cookie is worthless now.
    let mut thief = PageClient::new(&app);
    thief.cookies.insert("lg_session".into(), stolen);
    assert_eq!(thief.get("/ui/review").await.status, 303);
}

#[tokio::test]
async fn an_expired_session_or_a_disabled_account_logs_out() {
    let app = spawn_web_app().await;
    create_user(&app, "operator1", Role::Operator).await;
    let mut page = PageClient::new(&app);
    page.login("operator1", PASSWORD).await;
    assert_eq!(page.get("/ui/review").await.status, 200);
    sqlx::query("UPDATE sessions SET expires_at = 0")
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_eq!(page.get("/ui/review").await.status, 303);

    page.login("operator1", PASSWORD).await;
    assert_eq!(page.get("/ui/review").await.status, 200);
    let login = leadgate::users::Login::parse("operator1").unwrap();
    leadgate::users::set_active(&app.store, &login, false)
        .await
        .unwrap();
    assert_eq!(page.get("/ui/review").await.status, 303);
    assert_eq!(page.login("operator1", PASSWORD).await.status, 401);
}

#[tokio::test]
async fn secure_cookies_are_marked_secure() {
    let app = spawn_web_app_with(|s| s.web.secure_cookies = true).await;
    create_user(&app, "operator1", Role::Operator).await;
    let mut page = PageClient::new(&app);
    page.login("operator1", PASSWORD).await;
    let cookie = page
        .last_set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-lg_session="))
        .expect("session cookie");
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[tokio::test]
async fn the_queue_page_shows_the_appeal_beside_its_candidates_with_matches_marked() {
    let app = spawn_web_app().await;
    create_user(&app, "operator1", Role::Operator).await;
    let f = review_fixture(&app).await;
    let mut page = PageClient::new(&app);
    page.login("operator1", PASSWORD).await;
    let html = page.get("/ui/review").await.body;
    assert!(html.contains("id=\"open-count\">1<"), "count shown");
    assert!(html.contains(&format!("Обращение №{}", f.appeal_id)));
    assert!(html.contains(&format!("data-client=\"{}\"", f.client_a)));
    assert!(html.contains(&format!("data-client=\"{}\"", f.client_b)));
    assert!(html.contains("<mark>+7 912 300-00-01</mark>"), "{html}");
    assert!(html.contains("<mark>shared1@example.ru</mark>"));
    assert!(
        !html.contains("<mark>+7 912 400-00-01</mark>"),
        "a point nobody has is not marked"
    );
    assert!(html.contains("data-key=\"1\""));
    assert!(html.contains("data-key=\"2\""));
    assert!(html.contains("data-key=\"n\""));
    assert!(html.contains("data-key=\"s\""));
    assert!(html.contains("<script src=\"/ui/static/review.js\"></script>"));
    let js = app
        .client
        .get(app.url("/ui/static/review.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(js.status().as_u16(), 200);
    assert_eq!(
        app.client
            .get(app.url("/ui/static/nope.js"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        404
    );
}
