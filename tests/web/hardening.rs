//! Sessions and logins against an attacker (issue 18): `__Host-` cookies by
//! default, an idle timeout besides the absolute one, and password guessing
//! throttled per login and per address with 429 and `Retry-After`.

use leadgate::settings::{Role, WebSettings};

use crate::helpers::{scalar, shipped_config};
use crate::support::*;

#[test]
fn cookies_are_secure_by_default_and_only_the_demo_config_turns_that_off() {
    assert!(WebSettings::default().secure_cookies);
    let shipped = shipped_config();
    let line = shipped
        .lines()
        .position(|l| l.trim() == "secure_cookies = false")
        .expect("the demo config turns secure cookies off");
    let comment: Vec<&str> = shipped.lines().skip(line - 3).take(3).collect();
    assert!(comment.join(" ").contains("localhost"), "{comment:?}");
}

#[tokio::test]
async fn a_secure_session_cookie_is_a_host_cookie_and_works() {
    let app = spawn_web_app_with(|s| s.web.secure_cookies = true).await;
    create_user(&app, "operator1", Role::Operator).await;
    let mut page = PageClient::new(&app);
    let resp = page.login("operator1", PASSWORD).await;
    assert_eq!(resp.status, 303, "the __Host- login cookie is read back");
    let cookie = page
        .last_set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-lg_session="))
        .expect("session cookie");
    assert!(cookie.contains("; Path=/;"), "{cookie}");
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert_eq!(page.get("/ui/review").await.status, 200);
    assert!(!page.cookies.contains_key("lg_session"));
}

#[tokio::test]
async fn an_idle_session_ends_before_its_absolute_expiry() {
    let app = spawn_web_app_with(|s| s.web.session_idle_minutes = 30).await;
    create_user(&app, "operator1", Role::Operator).await;
    let mut page = PageClient::new(&app);
    page.login("operator1", PASSWORD).await;
    assert_eq!(page.get("/ui/review").await.status, 200);
    // 29 minutes unused: still in.
    sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - 29 * 60000")
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_eq!(page.get("/ui/review").await.status, 200);
    // The visit moved last_seen on; another 29 minutes are still fine.
    sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - 29 * 60000")
        .execute(app.store.pool())
        .await
        .unwrap();
    assert_eq!(page.get("/ui/review").await.status, 200);
    // 31 minutes unused: out, though the 12 hours are far from over.
    sqlx::query("UPDATE sessions SET last_seen_at = last_seen_at - 31 * 60000")
        .execute(app.store.pool())
        .await
        .unwrap();
    let resp = page.get("/ui/review").await;
    assert_eq!(resp.status, 303);
    assert!(resp.location.unwrap().starts_with("/ui/login"));
    assert_eq!(
        scalar(&app.store, "SELECT COUNT(*) FROM sessions").await,
        1,
        "the absolute expiry has not come"
    );
}

#[tokio::test]
async fn password_guessing_gets_429_per_login_and_per_address() {
    let app = spawn_web_app_with(|s| {
        s.limits.login_failures_per_login = 3;
        s.limits.login_failures_per_ip = 6;
    })
    .await;
    create_user(&app, "operator1", Role::Operator).await;
    create_user(&app, "operator2", Role::Operator).await;
    let mut page = PageClient::new(&app);
    for _ in 0..2 {
        assert_eq!(page.login("operator1", "guess").await.status, 401);
    }
    let third = page.login("OPERATOR1 ", "guess").await;
    assert_eq!(
        third.status, 401,
        "the third failure itself is still answered"
    );
    // From now on the right password waits too: the guesser cannot tell.
    let resp = page.login("operator1", PASSWORD).await;
    assert_eq!(resp.status, 429);
    assert!(resp.body.contains("Слишком много"), "{}", resp.body);
    let retry = page
        .last_retry_after
        .clone()
        .expect("Retry-After on the 429");
    assert!(retry.parse::<u64>().unwrap() >= 1);
    // Another login from this address is not blocked yet...
    assert_eq!(page.login("operator2", PASSWORD).await.status, 303);
    // ...until the address has failed often enough.
    let mut other = PageClient::new(&app);
    for i in 0..3 {
        assert_eq!(other.login(&format!("nobody{i}"), "x").await.status, 401);
    }
    assert_eq!(other.login("operator2", PASSWORD).await.status, 429);
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            "leadgate_requests_rejected_total{source=\"login\",reason=\"bad_credentials\"} 6"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("source=\"login\",reason=\"throttled\"} 2"),
        "{metrics}"
    );
}
