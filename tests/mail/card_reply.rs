//! A manager answers a client's letter from the interest card in a real
//! headless Chromium: the answer goes through the SMTP outbox to the local
//! sink once, threaded under the client's letter (`In-Reply-To`,
//! `References`), and shows in the card's feed and in what was sent.

use leadgate::users::{set_password, Login, Password};

use crate::browser::Browser;
use crate::helpers::{eventually, scalar};
use crate::{app_with, decode_body, mail, wait_appeals, Dovecot, SmtpSink};

const PASSWORD: &str = "correct horse battery";

/// The sink's messages that are the manager's replies (our reply ids).
fn replies(sink: &SmtpSink) -> Vec<String> {
    sink.messages()
        .into_iter()
        .filter(|m| {
            mail_parser::MessageParser::default()
                .parse(m.as_bytes())
                .and_then(|p| p.message_id().map(|id| id.starts_with("lg.reply.")))
                .unwrap_or(false)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_letter_is_answered_from_the_card_in_its_thread() {
    let dovecot = Dovecot::start().await;
    let sink = SmtpSink::start().await;
    let app = app_with(&dovecot, Some(&sink), |s| {
        s.routing.round_robin = vec!["ivanova".into()];
    })
    .await;
    set_password(
        &app.store,
        &Login::parse("ivanova").expect("login"),
        &Password::parse(PASSWORD).expect("password"),
    )
    .await
    .expect("password set");
    dovecot
        .append(
            "INBOX",
            &[mail(
                "Pavel Orlov <pavel@client7.ru>",
                "Нужны станки",
                "first@client7.ru",
                "References: <root@client7.ru>\r\nIn-Reply-To: <root@client7.ru>\r\n",
                "Сколько стоит токарный станок?",
            )],
        )
        .await;
    let letter = wait_appeals(&app, 1).await.remove(0);
    let interest = letter.interest_id.expect("interest");

    let browser = Browser::start().await;
    browser.login(&app.address, "ivanova", PASSWORD).await;
    browser
        .goto(&app.url(&format!("/ui/interests/{interest}")))
        .await;
    browser
        .wait_for("#reply-channel")
        .await
        .select_by_value("mail:pavel@client7.ru")
        .await
        .expect("the client's address is a channel");
    let subject = browser
        .wait_for("#reply-subject")
        .await
        .prop("value")
        .await
        .expect("subject");
    assert_eq!(subject.as_deref(), Some("Re: Нужны станки"));
    // A template from the config, its fields filled in.
    browser
        .wait_for("#template")
        .await
        .select_by_value("1")
        .await
        .expect("the shipped templates");
    browser.click("#template-apply").await;
    let subject = eventually("the template's subject", async || {
        let value = browser
            .wait_for("#reply-subject")
            .await
            .prop("value")
            .await
            .ok()
            .flatten()?;
        value.starts_with("Коммерческое").then_some(value)
    })
    .await;
    assert_eq!(
        subject,
        format!("Коммерческое предложение по запросу №{interest}")
    );
    let text = browser
        .wait_for("#reply-text")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(text.starts_with("Здравствуйте, Pavel Orlov!"), "{text}");
    assert!(text.ends_with("Анна Иванова"), "{text}");
    browser.fill("#reply-subject", "Re: Нужны станки").await;
    browser
        .fill(
            "#reply-text",
            "Павел, добрый день! Станок стоит 1 200 000 ₽.",
        )
        .await;
    browser.click("#reply-submit").await;
    browser.wait_for("p.flash").await;

    let sent = eventually("the answer at the SMTP sink", async || {
        let r = replies(&sink);
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(sent.len(), 1, "one letter: {sent:?}");
    let parsed = mail_parser::MessageParser::default()
        .parse(sent[0].as_bytes())
        .expect("a parsable letter");
    assert_eq!(parsed.subject(), Some("Re: Нужны станки"));
    let to = parsed
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .map(str::to_owned);
    assert_eq!(to.as_deref(), Some("pavel@client7.ru"));
    assert_eq!(
        parsed.in_reply_to().as_text(),
        Some("first@client7.ru"),
        "{}",
        sent[0]
    );
    let references: Vec<String> = parsed
        .references()
        .as_text_list()
        .map(|l| l.iter().map(|r| r.to_string()).collect())
        .or_else(|| parsed.references().as_text().map(|r| vec![r.to_string()]))
        .unwrap_or_default();
    assert!(
        references.iter().any(|r| r == "first@client7.ru"),
        "References name the client's letter: {references:?}"
    );
    assert!(
        !sent[0].contains("Auto-Submitted"),
        "a manager's letter is not an automatic one"
    );
    assert!(decode_body(&sent[0]).contains("Станок стоит 1 200 000 ₽."));

    // The feed has the letter, and the list of sent messages says delivered.
    let delivered = eventually("the letter marked sent", async || {
        browser
            .goto(&app.url(&format!("/ui/interests/{interest}")))
            .await;
        let html = browser.source().await;
        html.contains("доставлено").then_some(html)
    })
    .await;
    assert!(delivered.contains("data-kind=\"mail_out\""), "{delivered}");
    let feed = browser
        .wait_for("#feed li.feed-mail_out")
        .await
        .text()
        .await
        .unwrap();
    assert!(feed.contains("Станок стоит 1 200 000 ₽."), "{feed}");
    assert!(feed.contains("pavel@client7.ru"), "{feed}");
    assert_eq!(
        scalar(
            &app.store,
            "SELECT COUNT(*) FROM mail_outbox WHERE kind = 'reply' AND status = 'sent'"
        )
        .await,
        1
    );
    // Nothing goes twice: a later look at the sink still has the one letter.
    assert_eq!(replies(&sink).len(), 1);
    browser.close().await;
    app.stop().await;
}
