//! Forms are not a mail relay (issue 18): acknowledgements only for forms
//! with a secret or `acknowledge = true`, a global hourly cap besides the
//! per-recipient one, and a greeting with the name only when it is a name.
//! The SMTP server is never reached here: what counts is what is queued.

use leadgate::settings::{MailTls, SmtpSettings};

use crate::helpers::{eventually, free_port, scalar, spawn_app_with, TestApp};

fn smtp() -> SmtpSettings {
    SmtpSettings {
        host: "127.0.0.1".into(),
        port: Some(free_port()),
        tls: MailTls::Plain,
        allow_plain: true,
        login: None,
        password: None,
        from: "crm@example.ru".into(),
        from_name: None,
        max_per_second: 100,
    }
}

async fn post(app: &TestApp, name: &str, email: &str) -> i64 {
    let resp = app
        .client
        .post(app.url("/hooks/forms/site"))
        .form(&[("name", name), ("email", email), ("phone", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    // A form's reply names no internal id.
    let id = crate::helpers::scalar(&app.store, "SELECT MAX(id) FROM appeals").await;
    app.processed_appeal(id).await;
    id
}

async fn acks(app: &TestApp) -> i64 {
    scalar(
        &app.store,
        "SELECT COUNT(*) FROM mail_outbox WHERE kind = 'acknowledgement'",
    )
    .await
}

#[tokio::test]
async fn an_open_form_without_acknowledge_mails_nobody() {
    let app = spawn_app_with(|s| {
        s.mail.smtp = Some(smtp());
        s.forms.get_mut("site").unwrap().acknowledge = false;
        s.forms.get_mut("site").unwrap().secret = None;
    })
    .await;
    post(&app, "Анна", "victim@example.org").await;
    assert_eq!(acks(&app).await, 0);
}

#[tokio::test]
async fn acknowledgements_have_a_global_hourly_cap_and_greet_only_names() {
    let app = spawn_app_with(|s| {
        s.mail.smtp = Some(smtp());
        s.mail.acknowledgement.max_per_hour = 3;
        s.forms.get_mut("site").unwrap().acknowledge = true;
    })
    .await;
    post(&app, "Анна-Мария", "a1@example.org").await;
    post(&app, "Buy now at http://spam.example", "a2@example.org").await;
    for i in 3..8 {
        post(&app, "Иван", &format!("a{i}@example.org")).await;
    }
    eventually("the acknowledgements to be queued", async || {
        (acks(&app).await == 3).then_some(())
    })
    .await;
    assert_eq!(
        acks(&app).await,
        3,
        "the hourly cap holds across recipients"
    );
    let bodies: Vec<(String, String)> = sqlx::query_as(
        "SELECT recipient, body FROM mail_outbox WHERE kind = 'acknowledgement' ORDER BY id",
    )
    .fetch_all(app.store.pool())
    .await
    .unwrap();
    assert!(
        bodies[0].1.starts_with("Здравствуйте, Анна-Мария!"),
        "{}",
        bodies[0].1
    );
    assert!(bodies[1].1.starts_with("Здравствуйте!"), "{}", bodies[1].1);
    assert!(!bodies[1].1.contains("spam"), "{}", bodies[1].1);
}
