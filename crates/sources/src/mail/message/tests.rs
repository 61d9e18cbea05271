//! End-to-end tests of `parse_message` on real-world shaped messages.

use std::collections::BTreeMap;

use super::*;

// ---- helpers to build raw messages ---------------------------------------

/// Encodes `s` in a single-byte charset by inverting mail-parser's decoder.
fn encode_8bit(charset: &str, s: &str) -> Vec<u8> {
    let decoder = mail_parser::decoders::charsets::map::charset_decoder(charset.as_bytes())
        .expect("known charset");
    let table: Vec<(char, u8)> = (0u8..=255)
        .filter_map(|b| decoder(&[b]).chars().next().map(|c| (c, b)))
        .collect();
    s.chars()
        .map(|c| {
            table
                .iter()
                .find(|(tc, _)| *tc == c)
                .map(|(_, b)| *b)
                .unwrap_or(b'?')
        })
        .collect()
}

fn cp1251(s: &str) -> Vec<u8> {
    encode_8bit("windows-1251", s)
}

fn koi8r(s: &str) -> Vec<u8> {
    encode_8bit("koi8-r", s)
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    // MIME lines of 76 characters.
    out.as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

fn qp(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        match b {
            b'\n' => out.push_str("\r\n"),
            b'\r' => {}
            b'=' => out.push_str("=3D"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out
}

fn rfc2047_b(charset: &str, bytes: &[u8]) -> String {
    format!("=?{charset}?B?{}?=", b64(bytes))
}

/// Header block (LF in the source, CRLF on the wire) + body bytes.
fn mail(headers: &str, body: &[u8]) -> Vec<u8> {
    let mut raw = headers.trim_start().replace('\n', "\r\n").into_bytes();
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    raw
}

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn parse(raw: &[u8]) -> InboundMail {
    parse_message(raw, &MailRules::default()).expect("message parses")
}

fn rules_with_forms() -> MailRules {
    MailRules {
        own_addresses: vec!["sales@example.ru".into()],
        own_domains: vec!["example.ru".into()],
        form_senders: vec![
            FormSenderRule {
                from: "*@tilda.ws".into(),
                subject_contains: None,
                field_map: BTreeMap::new(),
            },
            FormSenderRule {
                // Bitrix on our own site sends from our own domain: the
                // form rule must win over the own-address check.
                from: "bitrix@example.ru".into(),
                subject_contains: Some("Новая заявка".into()),
                field_map: BTreeMap::new(),
            },
            FormSenderRule {
                from: "wordpress@shop.example.com".into(),
                subject_contains: None,
                field_map: [("Как к вам обращаться".to_owned(), FormField::Name)]
                    .into_iter()
                    .collect(),
            },
        ],
        ..MailRules::default()
    }
}

// ---- clients ------------------------------------------------------------

#[test]
fn outlook_cp1251_quoted_printable_reply_with_russian_header_block() {
    let text = "Добрый день!\n\nПришлите, пожалуйста, счёт на 20 коробок.\n\n\
        С уважением,\nСергей Иванов\nНачальник отдела снабжения\nООО «Вектор»\n\
        Тел.: +7 (843) 200-10-20 доб. 115\nМоб.: 8 917 555-44-33\n\n\
        От: Отдел продаж <sales@example.ru>\nОтправлено: 5 июня 2024 г. 17:02\n\
        Кому: Сергей Иванов <s.ivanov@vector-kzn.ru>\nТема: Коммерческое предложение\n\n\
        Сергей, добрый день! Направляем КП.\n";
    let html = "<html><body><p>Добрый день!</p></body></html>";
    let headers = format!(
        "From: {name} <s.ivanov@vector-kzn.ru>
To: =?windows-1251?B?zvLk5esg7/Du5ODm?= <sales@example.ru>
Subject: {subject}
Date: Thu, 6 Jun 2024 09:15:42 +0300
Message-ID: <000001dab7a1$5c2e8f40$148badc0$@vector-kzn.ru>
In-Reply-To: <a1b2c3@example.ru>
References: <root@example.ru> <a1b2c3@example.ru>
X-Mailer: Microsoft Outlook 16.0
X-Auto-Response-Suppress: All
Thread-Index: AQHat6Fc
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=\"----=_NextPart_000_0001\"
",
        name = rfc2047_b("windows-1251", &cp1251("Сергей Иванов")),
        subject = rfc2047_b("windows-1251", &cp1251("RE: Коммерческое предложение")),
    );
    let body = format!(
        "------=_NextPart_000_0001\r\nContent-Type: text/plain; charset=\"windows-1251\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n\
         ------=_NextPart_000_0001\r\nContent-Type: text/html; charset=\"windows-1251\"\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n{}\r\n------=_NextPart_000_0001--\r\n",
        qp(&cp1251(text)),
        qp(&cp1251(html)),
    );
    let m = parse(&mail(&headers, body.as_bytes()));
    assert_eq!(
        m.message_id,
        "000001dab7a1$5c2e8f40$148badc0$@vector-kzn.ru"
    );
    assert!(!m.message_id_synthetic);
    assert_eq!(m.in_reply_to.as_deref(), Some("a1b2c3@example.ru"));
    assert_eq!(m.references, vec!["root@example.ru", "a1b2c3@example.ru"]);
    assert_eq!(
        m.date.map(|d| d.to_rfc3339()).as_deref(),
        Some("2024-06-06T06:15:42+00:00")
    );
    assert_eq!(m.subject, "RE: Коммерческое предложение");
    assert_eq!(m.contact.name.as_deref(), Some("Сергей Иванов"));
    assert_eq!(m.contact.email.as_deref(), Some("s.ivanov@vector-kzn.ru"));
    assert_eq!(m.contact.source, ContactSource::From);
    assert_eq!(m.to[0].name.as_deref(), Some("Отдел продаж"));
    assert_eq!(m.body.source, BodySource::Plain);
    assert_eq!(
        m.body.new_text,
        "Добрый день!\n\nПришлите, пожалуйста, счёт на 20 коробок."
    );
    assert!(m
        .body
        .signature
        .as_deref()
        .is_some_and(|s| s.starts_with("С уважением,") && s.contains("ООО «Вектор»")));
    assert!(m
        .body
        .quoted
        .as_deref()
        .is_some_and(|q| q.starts_with("От: Отдел продаж") && q.contains("Направляем КП")));
    assert_eq!(m.contact.signature_name.as_deref(), Some("Сергей Иванов"));
    assert_eq!(
        m.contact.phones_text,
        vec!["+7 (843) 200-10-20", "8 917 555-44-33"]
    );
    // X-Auto-Response-Suppress is Outlook's normal-mail header.
    assert_eq!(m.kind, MailKind::Lead);
    assert!(m.attachments.is_empty());
}

#[test]
fn gmail_alternative_with_attachment_and_rfc2231_filename() {
    let pdf = b"%PDF-1.4 fake pdf bytes \x00\x01\x02";
    let headers = "
MIME-Version: 1.0
Date: Mon, 3 Jun 2024 10:20:00 +0500
Message-ID: <CAF=abc123@mail.gmail.com>
Subject: =?UTF-8?B?0JfQsNC/0YDQvtGBINGG0LXQvdGLINC90LAg0YPQv9Cw0LrQvtCy0LrRgw==?=
From: =?UTF-8?B?0JDQvdC90LAg0JrRg9C30L3QtdGG0L7QstCw?= <anna.kuznetsova@gmail.com>
To: sales@example.ru, =?UTF-8?Q?=D0=9F=D0=B5=D1=82=D1=80?= <petr@example.ru>
Cc: boss@client.ru
Content-Type: multipart/mixed; boundary=\"000000000000mixed\"
";
    let body = format!(
        "--000000000000mixed\r\n\
Content-Type: multipart/alternative; boundary=\"000000000000alt\"\r\n\r\n\
--000000000000alt\r\n\
Content-Type: text/plain; charset=\"UTF-8\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n\
--000000000000alt\r\n\
Content-Type: text/html; charset=\"UTF-8\"\r\n\r\n\
<div dir=\"ltr\">Здравствуйте! Сколько стоит упаковка?</div>\r\n\
--000000000000alt--\r\n\
--000000000000mixed\r\n\
Content-Type: application/pdf; name=\"=?UTF-8?B?0KDQtdC60LLQuNC30LjRgtGLLnBkZg==?=\"\r\n\
Content-Disposition: attachment; filename*=UTF-8''%D0%A0%D0%B5%D0%BA%D0%B2%D0%B8%D0%B7%D0%B8%D1%82%D1%8B.pdf\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n\
--000000000000mixed--\r\n",
        b64("Здравствуйте! Сколько стоит упаковка?\n\n--\nАнна Кузнецова\n+7 912 000-00-01\n".as_bytes()),
        b64(pdf),
    );
    let m = parse(&mail(headers, body.as_bytes()));
    assert_eq!(m.subject, "Запрос цены на упаковку");
    assert_eq!(m.contact.name.as_deref(), Some("Анна Кузнецова"));
    assert_eq!(m.body.new_text, "Здравствуйте! Сколько стоит упаковка?");
    assert_eq!(
        m.body.signature.as_deref(),
        Some("Анна Кузнецова\n+7 912 000-00-01")
    );
    assert_eq!(m.contact.signature_name.as_deref(), Some("Анна Кузнецова"));
    assert_eq!(m.contact.phones_text, vec!["+7 912 000-00-01"]);
    assert_eq!(m.recipients_count, 3);
    assert_eq!(m.to.len(), 2);
    assert_eq!(m.to[1].name.as_deref(), Some("Петр"));
    assert_eq!(m.cc[0].email, "boss@client.ru");
    assert_eq!(
        m.attachments,
        vec![AttachmentMeta {
            name: Some("Реквизиты.pdf".into()),
            content_type: "application/pdf".into(),
            size: pdf.len(),
            inline: false,
        }]
    );
    assert_eq!(m.attachments_count, 1);
    assert_eq!(
        m.date.map(|d| d.to_rfc3339()).as_deref(),
        Some("2024-06-03T05:20:00+00:00")
    );
}

#[test]
fn yandex_reply_with_attribution_and_mobile_footer() {
    let headers = "
From: =?utf-8?B?0JzQsNGA0LjRjw==?= <maria.s@yandex.ru>
To: sales@example.ru
Subject: Re: =?utf-8?B?0JLQsNGIINC30LDQutCw0Lc=?=
Date: Fri, 07 Jun 2024 14:03:11 +0300
Message-Id: <1234561717758191@mail.yandex.ru>
In-Reply-To: <offer-77@example.ru>
Content-Transfer-Encoding: 8bit
Content-Type: text/plain; charset=utf-8
";
    let body = crlf(
        "Да, давайте на четверг.\n\n-- \nОтправлено из мобильной Яндекс.Почты\n\n\
        07.06.2024, 12:00, \"Отдел продаж\" <sales@example.ru>:\n\
        > Мария, добрый день!\n> Когда удобно принять доставку?\n",
    );
    let m = parse(&mail(headers, &body));
    assert_eq!(m.subject, "Re: Ваш заказ");
    assert_eq!(m.contact.name.as_deref(), Some("Мария"));
    assert_eq!(m.body.new_text, "Да, давайте на четверг.");
    assert_eq!(
        m.body.signature.as_deref(),
        Some("Отправлено из мобильной Яндекс.Почты")
    );
    assert!(m
        .body
        .quoted
        .as_deref()
        .is_some_and(|q| q.starts_with("07.06.2024, 12:00")
            && q.ends_with("> Когда удобно принять доставку?")));
    assert_eq!(m.kind, MailKind::Lead);
}

#[test]
fn mailru_html_only_base64_with_blockquote() {
    let html = "<HTML><BODY><div>Здравствуйте, нужен расчёт доставки до Самары.</div>\
        <div>&nbsp;</div><div>Телефон для связи: 8 (846) 123-45-67</div>\
        <div>--<br>Олег Смирнов<br>Отправлено из мобильной Почты Mail.ru</div>\
        <div>&nbsp;</div><div>Среда, 5 июня 2024, 11:30 +04:00 от Отдел продаж &lt;sales@example.ru&gt;:<br>\
        <blockquote style=\"border-left:1px solid #0857A6\"><div>Олег, здравствуйте!<br>Ждём ваш запрос.</div>\
        </blockquote></div></BODY></HTML>";
    let headers = "
From: =?UTF-8?B?0J7Qu9C10LM=?= <oleg.smirnov@mail.ru>
To: sales@example.ru
Subject: =?UTF-8?B?UmU6INCX0LDQv9GA0L7RgQ==?=
MIME-Version: 1.0
Date: Wed, 05 Jun 2024 12:01:02 +0400
Message-ID: <1717574462.123456789@f123.i.mail.ru>
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64
";
    let m = parse(&mail(headers, (b64(html.as_bytes()) + "\r\n").as_bytes()));
    assert_eq!(m.body.source, BodySource::Html);
    assert_eq!(
        m.body.new_text,
        "Здравствуйте, нужен расчёт доставки до Самары.\n\nТелефон для связи: 8 (846) 123-45-67"
    );
    assert_eq!(
        m.body.signature.as_deref(),
        Some("Олег Смирнов\nОтправлено из мобильной Почты Mail.ru")
    );
    assert!(m
        .body
        .quoted
        .as_deref()
        .is_some_and(|q| q.starts_with("Среда, 5 июня 2024") && q.contains("> Ждём ваш запрос.")));
    assert_eq!(m.contact.signature_name.as_deref(), Some("Олег Смирнов"));
    assert_eq!(m.contact.phones_text, vec!["8 (846) 123-45-67"]);
}

#[test]
fn koi8r_body_and_encoded_words() {
    let subject_q: String = koi8r("Заявка на поставку")
        .iter()
        .map(|b| {
            if *b == b' ' {
                "_".to_owned()
            } else {
                format!("={b:02X}")
            }
        })
        .collect();
    let headers = format!(
        "From: =?koi8-r?Q?{}?= <petrov@rambler.ru>
To: sales@example.ru
Subject: =?KOI8-R?Q?{subject_q}?=
Date: Tue, 4 Jun 2024 08:00:00 +0300
Message-ID: <koi8-test@rambler.ru>
MIME-Version: 1.0
Content-Type: text/plain; charset=koi8-r
Content-Transfer-Encoding: 8bit
",
        koi8r("Пётр Петров")
            .iter()
            .map(|b| if *b == b' ' {
                "_".to_owned()
            } else {
                format!("={b:02X}")
            })
            .collect::<String>(),
    );
    let body =
        koi8r("Прошу выставить счёт на 100 рулонов плёнки.\r\n\r\nС уважением,\r\nПётр Петров\r\n");
    let m = parse(&mail(&headers, &body));
    assert_eq!(m.subject, "Заявка на поставку");
    assert_eq!(m.contact.name.as_deref(), Some("Пётр Петров"));
    assert_eq!(
        m.body.new_text,
        "Прошу выставить счёт на 100 рулонов плёнки."
    );
    assert_eq!(m.contact.signature_name.as_deref(), Some("Пётр Петров"));
}

#[test]
fn raw_8bit_cp1251_headers_and_unlabelled_body() {
    let mut raw = Vec::new();
    raw.extend_from_slice(b"From: ");
    raw.extend(cp1251("\"Иванова Елена\""));
    raw.extend_from_slice(b" <elena@company-msk.ru>\r\nTo: sales@example.ru\r\nSubject: ");
    raw.extend(cp1251("Запрос прайса"));
    raw.extend_from_slice(
        b"\r\nDate: 4 Jun 2024 10:00:00 +0300\r\nMIME-Version: 1.0\r\n\
          Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
          --b1\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
    );
    raw.extend(cp1251("Пришлите прайс на стеллажи, пожалуйста.\r\n"));
    raw.extend_from_slice(
        b"--b1\r\nContent-Type: application/vnd.ms-excel\r\n\
          Content-Disposition: attachment; filename=\"",
    );
    raw.extend(cp1251("Заявка.xls"));
    raw.extend_from_slice(b"\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--b1--\r\n");
    let m = parse(&raw);
    assert_eq!(m.contact.name.as_deref(), Some("Иванова Елена"));
    assert_eq!(m.subject, "Запрос прайса");
    assert_eq!(m.body.new_text, "Пришлите прайс на стеллажи, пожалуйста.");
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].name.as_deref(), Some("Заявка.xls"));
    assert_eq!(m.attachments[0].size, 4);
    // No Message-ID: a stable synthetic one.
    assert!(m.message_id_synthetic);
    assert_eq!(m.message_id.len(), 64);
    assert_eq!(parse(&raw).message_id, m.message_id);
}

#[test]
fn raw_8bit_koi8r_headers_are_told_from_cp1251() {
    let mut raw = b"From: ".to_vec();
    raw.extend(koi8r("Сидоров Алексей"));
    raw.extend_from_slice(b" <sidorov@relcom.ru>\r\nSubject: ");
    raw.extend(koi8r("Нужна цена на доставку"));
    raw.extend_from_slice(b"\r\nContent-Type: text/plain; charset=koi8-r\r\n\r\n");
    raw.extend(koi8r("Добрый день.\r\n"));
    let m = parse(&raw);
    assert_eq!(m.contact.name.as_deref(), Some("Сидоров Алексей"));
    assert_eq!(m.subject, "Нужна цена на доставку");
    assert_eq!(m.body.new_text, "Добрый день.");
}

#[test]
fn plain_text_without_headers_is_rejected() {
    assert_eq!(
        parse_message(b"no headers at all, just text", &MailRules::default()),
        Err(MailParseError::NoHeaders)
    );
    assert_eq!(
        parse_message("Привет, это не письмо\n".as_bytes(), &MailRules::default()),
        Err(MailParseError::NoHeaders)
    );
}

#[test]
fn php_mailer_declares_utf8_but_sends_cp1251() {
    let mut raw = crlf(
        "From: site@shop.ru\nTo: sales@example.ru\nSubject: order\n\
         Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n",
    );
    raw.extend(cp1251("Хочу купить диван, перезвоните.\r\n"));
    let m = parse(&raw);
    assert_eq!(m.body.new_text, "Хочу купить диван, перезвоните.");
}

// ---- kinds --------------------------------------------------------------

#[test]
fn dsn_bounce_from_mailer_daemon() {
    let headers = "
Return-Path: <>
From: MAILER-DAEMON@mx.yandex.ru
To: sales@example.ru
Subject: =?utf-8?B?0J3QtdC00L7RgdGC0LDQstC70LXQvdC90L7QtSDRgdC+0L7QsdGJ0LXQvdC40LU=?=
Date: Thu, 06 Jun 2024 10:00:00 +0300
Message-Id: <bounce-1@mx.yandex.ru>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary=\"dsn\"
";
    let body = crlf(
        "--dsn\nContent-Type: text/plain; charset=utf-8\n\n\
        Сообщение не доставлено: адрес nobody@client.ru не существует.\n\
        --dsn\nContent-Type: message/delivery-status\n\n\
        Reporting-MTA: dns; mx.yandex.ru\n\nFinal-Recipient: rfc822; nobody@client.ru\nAction: failed\nStatus: 5.1.1\n\
        --dsn\nContent-Type: text/rfc822-headers\n\n\
        From: sales@example.ru\nTo: nobody@client.ru\nSubject: KP\n\
        --dsn--\n",
    );
    let m = parse(&mail(headers, &body));
    assert_eq!(m.subject, "Недоставленное сообщение");
    match &m.kind {
        MailKind::Bounce { reason } => assert_eq!(reason.header, "Content-Type"),
        other => panic!("expected bounce, got {other:?}"),
    }
    assert!(!m.kind.may_auto_answer());
    assert!(m.body.new_text.starts_with("Сообщение не доставлено"));
}

#[test]
fn gmail_bounce_without_report_is_caught_by_sender() {
    let headers = "
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: sales@example.ru
Subject: Delivery Status Notification (Failure)
X-Failed-Recipients: nobody@client.ru
Content-Type: text/plain
";
    let m = parse(&mail(headers, b"Address not found\r\n"));
    assert_eq!(m.kind.as_str(), "bounce");
    assert_eq!(
        m.kind.reason().map(|r| r.header.as_str()),
        Some("X-Failed-Recipients")
    );
}

#[test]
fn vacation_auto_replies() {
    // Yandex vacation responder.
    let headers = "
From: =?utf-8?B?0JjQstCw0L0=?= <ivan@client.ru>
To: sales@example.ru
Subject: =?utf-8?B?0JDQstGC0L7QvtGC0LLQtdGCOiBSZTog0JrQnw==?=
Auto-Submitted: auto-replied
Content-Type: text/plain; charset=utf-8
";
    let m = parse(&mail(headers, "Я в отпуске до 20 июня.\r\n".as_bytes()));
    assert_eq!(m.subject, "Автоответ: Re: КП");
    match &m.kind {
        MailKind::AutoReply { reason } => {
            assert_eq!(reason.to_string(), "Auto-Submitted: auto-replied");
        }
        other => panic!("expected auto reply, got {other:?}"),
    }

    // Exchange out-of-office: only the subject and X-Auto-Response-Suppress.
    let headers = "
From: Petrov <petrov@corp.ru>
To: sales@example.ru
Subject: =?utf-8?B?0JDQstGC0L7QvNCw0YLQuNGH0LXRgdC60LjQuSDQvtGC0LLQtdGCOiDQl9Cw0LrQsNC3?=
X-Auto-Response-Suppress: All
Content-Type: text/plain; charset=utf-8
";
    let m = parse(&mail(headers, "Меня нет в офисе.\r\n".as_bytes()));
    assert_eq!(m.kind.reason().map(|r| r.header.as_str()), Some("Subject"));

    let headers = "
From: robot@client.ru
To: sales@example.ru
Subject: Re: offer
X-Autoreply: yes
Content-Type: text/plain
";
    assert_eq!(
        parse(&mail(headers, b"away\r\n")).kind.as_str(),
        "auto_reply"
    );
}

#[test]
fn mailing_list_with_list_id() {
    let headers = "
From: Digest <news@marketplace.ru>
To: sales@example.ru
Subject: Top sellers of the week
List-Id: Marketplace digest <digest.marketplace.ru>
List-Unsubscribe: <https://marketplace.ru/u?x=1>, <mailto:unsub@marketplace.ru>
Precedence: bulk
Content-Type: text/plain
";
    let m = parse(&mail(headers, b"Hello\r\n"));
    match &m.kind {
        MailKind::MailingList { reason } => {
            assert_eq!(reason.header, "List-Id");
            assert!(reason.value.contains("digest.marketplace.ru"));
        }
        other => panic!("expected list, got {other:?}"),
    }
}

#[test]
fn own_address_and_reply_to_preference() {
    let rules = rules_with_forms();
    let headers = "
From: Sales <sales@example.ru>
To: client@firm.ru
Subject: copy
Content-Type: text/plain
";
    let m = parse_message(&mail(headers, b"x\r\n"), &rules).expect("parses");
    assert_eq!(m.kind.as_str(), "own_address");
    assert!(m
        .kind
        .reason()
        .is_some_and(|r| r.value.contains("own_addresses")));

    // Reply-To wins over From; Sender is never the contact.
    let headers = "
From: Office Box <office@firm.ru>
Sender: mailer@esp.net
Reply-To: =?utf-8?Q?=D0=9D=D0=B8=D0=BD=D0=B0?= <nina@firm.ru>
To: sales@example.ru
Subject: Вопрос
Content-Type: text/plain; charset=utf-8
";
    let m = parse_message(&mail(headers, "Вопрос по цене\r\n".as_bytes()), &rules).expect("parses");
    assert_eq!(m.contact.email.as_deref(), Some("nina@firm.ru"));
    assert_eq!(m.contact.name.as_deref(), Some("Нина"));
    assert_eq!(m.contact.source, ContactSource::ReplyTo);
    assert_eq!(
        m.from.as_ref().map(|f| f.email.as_str()),
        Some("office@firm.ru")
    );
    assert_eq!(m.kind, MailKind::Lead);
}

// ---- form notifications -------------------------------------------------

#[test]
fn tilda_html_notification_becomes_the_visitors_contact() {
    let html = "<div>Request details:<br><br>Name: Дмитрий<br>Phone: +7 (999) 123-45-67<br>\
        Email: dmitry@example.org<br>Comments: Нужна консультация по тарифам<br><br>\
        Additional information:<br>utm_source: yandex<br>utm_campaign: summer<br>\
        Page: https://site.ru/?utm_source=yandex&amp;utm_term=%D0%BA%D0%BE%D1%80%D0%BE%D0%B1%D0%BA%D0%B8<br>\
        Block ID: rec1234<br></div>";
    let headers = "
From: Tilda Publishing <robot@tilda.ws>
Reply-To: dmitry@example.org
To: sales@example.ru
Subject: =?utf-8?B?0JfQsNGP0LLQutCwINGBINGB0LDQudGC0LA=?=
Auto-Submitted: auto-generated
Content-Type: text/html; charset=utf-8
";
    let m = parse_message(&mail(headers, html.as_bytes()), &rules_with_forms()).expect("parses");
    let MailKind::FormNotification {
        rule,
        submission,
        reason,
    } = &m.kind
    else {
        panic!("expected form notification, got {:?}", m.kind);
    };
    assert_eq!(*rule, 0);
    assert!(reason.value.contains("robot@tilda.ws"));
    assert_eq!(submission.name.as_deref(), Some("Дмитрий"));
    assert_eq!(submission.phones, vec!["+7 (999) 123-45-67"]);
    assert_eq!(
        submission.comment.as_deref(),
        Some("Нужна консультация по тарифам")
    );
    let utm: Vec<_> = submission.utm().collect();
    assert_eq!(
        utm,
        vec![
            ("utm_source", "yandex"),
            ("utm_campaign", "summer"),
            ("utm_term", "коробки")
        ]
    );
    assert_eq!(m.contact.source, ContactSource::Form);
    assert_eq!(m.contact.name.as_deref(), Some("Дмитрий"));
    assert_eq!(m.contact.email.as_deref(), Some("dmitry@example.org"));
    assert_eq!(m.contact.phones_text, vec!["+7 (999) 123-45-67"]);
    assert!(m.kind.is_lead());
}

#[test]
fn bitrix_table_from_own_domain_is_a_form_not_own_address() {
    let html = "<html><body><p>Новая заявка с сайта</p><table border=1>\
        <tr><td><b>Имя</b></td><td>Светлана</td></tr>\
        <tr><td><b>Телефон</b></td><td>89261112233</td></tr>\
        <tr><td><b>Компания</b></td><td>ИП Соколова</td></tr>\
        <tr><td><b>Сообщение</b></td><td>Интересует оптовая цена</td></tr>\
        </table><p>Письмо сгенерировано автоматически.</p></body></html>";
    let headers = format!(
        "From: bitrix@example.ru
To: sales@example.ru
Subject: {}
Content-Type: multipart/alternative; boundary=\"bx\"
",
        rfc2047_b("windows-1251", &cp1251("Новая заявка: обратный звонок"))
    );
    let body = [
        b"--bx\r\nContent-Type: text/plain; charset=windows-1251\r\n\r\n".to_vec(),
        b"\r\n".to_vec(),
        b"--bx\r\nContent-Type: text/html; charset=windows-1251\r\n\r\n".to_vec(),
        cp1251(html),
        b"\r\n--bx--\r\n".to_vec(),
    ]
    .concat();
    let m = parse_message(&mail(&headers, &body), &rules_with_forms()).expect("parses");
    let MailKind::FormNotification {
        rule, submission, ..
    } = &m.kind
    else {
        panic!("expected form notification, got {:?}", m.kind);
    };
    assert_eq!(*rule, 1);
    assert_eq!(submission.name.as_deref(), Some("Светлана"));
    assert_eq!(submission.phones, vec!["89261112233"]);
    assert_eq!(submission.company.as_deref(), Some("ИП Соколова"));
    assert_eq!(
        submission.comment.as_deref(),
        Some("Интересует оптовая цена")
    );
    assert_eq!(m.contact.name.as_deref(), Some("Светлана"));
    assert_eq!(m.contact.email, None);
    assert_eq!(m.body.source, BodySource::Html);

    // Same robot, other subject: the rule does not apply → own address.
    let headers = "From: bitrix@example.ru\nTo: sales@example.ru\nSubject: Backup done\nContent-Type: text/plain\n";
    let m = parse_message(&mail(headers, b"ok\r\n"), &rules_with_forms()).expect("parses");
    assert_eq!(m.kind.as_str(), "own_address");
}

#[test]
fn wordpress_cf7_plain_text_with_field_map() {
    let headers = "
From: WordPress <wordpress@shop.example.com>
Reply-To: Ринат <rinat@mail.ru>
To: sales@example.ru
Subject: =?UTF-8?Q?=D0=A1=D0=B0=D0=B9=D1=82_=22=D0=9C=D0=B0=D0=B3=D0=B0=D0=B7=D0=B8=D0=BD=22?=
Content-Type: text/plain; charset=UTF-8
";
    let body = crlf(
        "Как к вам обращаться: Ринат\nВаш телефон: 8 (917) 000-12-34\nВаше сообщение:\n\
        Сколько стоит доставка\nв Уфу?\n\n-- \nЭто сообщение отправлено с сайта Магазин (https://shop.example.com)\n",
    );
    let m = parse_message(&mail(headers, &body), &rules_with_forms()).expect("parses");
    let MailKind::FormNotification { submission, .. } = &m.kind else {
        panic!("expected form notification, got {:?}", m.kind);
    };
    assert_eq!(submission.name.as_deref(), Some("Ринат"));
    assert_eq!(submission.phones, vec!["8 (917) 000-12-34"]);
    assert_eq!(
        submission.comment.as_deref(),
        Some("Сколько стоит доставка\nв Уфу?")
    );
    assert!(submission.emails.is_empty());
    // No e-mail field: the visitor's Reply-To is used.
    assert_eq!(m.contact.email.as_deref(), Some("rinat@mail.ru"));
}

// ---- robustness ---------------------------------------------------------

#[test]
fn invalid_date_missing_headers_and_empty_input() {
    let m = parse(&crlf(
        "From: a@b.ru\nDate: 45 Smarch 20xx 99:99:99 +9999\nSubject:\n\nhi\n",
    ));
    assert_eq!(m.date, None);
    assert_eq!(m.subject, "");
    assert_eq!(m.body.new_text, "hi");

    assert_eq!(
        parse_message(b"", &MailRules::default()),
        Err(MailParseError::Empty)
    );
    assert_eq!(
        parse_message(b" \r\n\t", &MailRules::default()),
        Err(MailParseError::Empty)
    );
    let m = parse(&crlf("Subject: only a subject\n"));
    assert_eq!(m.contact, MailContact::default());
    assert_eq!(m.body.source, BodySource::None);
}

#[test]
fn broken_mime_still_yields_text() {
    // Boundary never closed, part headers cut off mid-way.
    let raw = crlf(
        "From: x@y.ru\nSubject: broken\nContent-Type: multipart/mixed; boundary=\"zz\"\n\n\
        --zz\nContent-Type: text/plain; charset=utf-8\n\nТекст заявки без конца\n--zz\nContent-Type: app",
    );
    let m = parse(&raw);
    assert!(m.body.new_text.contains("Текст заявки"));

    // Missing boundary parameter altogether.
    let raw = crlf("From: x@y.ru\nContent-Type: multipart/alternative\n\nтекст\n");
    let _ = parse(&raw);
}

#[test]
fn thousand_recipients_are_counted_but_capped() {
    let to: Vec<String> = (0..1000).map(|i| format!("user{i}@spam.ru")).collect();
    let raw = crlf(&format!(
        "From: spammer@spam.ru\nTo: {}\nSubject: hi\n\nbuy\n",
        to.join(",\n ")
    ));
    let m = parse(&raw);
    assert_eq!(m.recipients_count, 1000);
    assert_eq!(m.to.len(), MAX_LISTED_RECIPIENTS);
}

#[test]
fn oversize_message_is_flagged_and_parsed_from_a_prefix() {
    let rules = MailRules {
        max_message_bytes: 1024,
        ..MailRules::default()
    };
    let mut raw = crlf(
        "From: Big <big@file.ru>\nSubject: huge\nContent-Type: multipart/mixed; boundary=\"q\"\n\n\
        --q\nContent-Type: text/plain; charset=utf-8\n\nСмотрите вложение\n\
        --q\nContent-Type: application/octet-stream; name=\"a.bin\"\nContent-Transfer-Encoding: base64\n\n",
    );
    for _ in 0..200_000 {
        raw.extend_from_slice(
            b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n",
        );
    }
    raw.extend_from_slice(b"--q--\r\n");
    let m = parse_message(&raw, &rules).expect("parses");
    assert!(m.oversize);
    assert_eq!(m.size, raw.len());
    assert_eq!(m.subject, "huge");
    assert_eq!(m.body.new_text, "Смотрите вложение");
    assert!(m.body.truncated);
    // Synthetic id hashes the whole message, not the parsed prefix.
    assert_eq!(m.message_id, hex::encode(Sha256::digest(&raw)));
}

#[test]
fn huge_text_body_is_truncated() {
    let mut raw = crlf("From: a@b.ru\nSubject: log\nContent-Type: text/plain; charset=utf-8\n\n");
    for i in 0..100_000 {
        raw.extend_from_slice(format!("строка лога номер {i}\r\n").as_bytes());
    }
    let m = parse(&raw);
    assert!(m.body.truncated);
    assert!(m.body.new_text.len() <= body::MAX_BODY_TEXT_BYTES);
    assert!(!m.oversize);
}

#[test]
fn long_references_keep_root_and_newest() {
    let refs: Vec<String> = (0..500).map(|i| format!("<id{i}@x.ru>")).collect();
    let raw = crlf(&format!(
        "From: a@b.ru\nReferences: {}\nSubject: x\n\nx\n",
        refs.join("\n ")
    ));
    let m = parse(&raw);
    assert_eq!(m.references.len(), 100);
    assert_eq!(m.references[0], "id0@x.ru");
    assert_eq!(m.references[1], "id401@x.ru");
    assert_eq!(m.references[99], "id499@x.ru");
}

#[test]
fn inline_image_and_forwarded_eml_attachment() {
    let raw = crlf(
        "From: a@b.ru\nSubject: fw\nContent-Type: multipart/mixed; boundary=\"m\"\n\n\
        --m\nContent-Type: multipart/related; boundary=\"r\"\n\n\
        --r\nContent-Type: text/html; charset=utf-8\n\n<p>См. ниже <img src=\"cid:logo\"></p>\n\
        --r\nContent-Type: image/png\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n\
        --r--\n\
        --m\nContent-Type: message/rfc822\n\n\
        From: client@firm.ru\nSubject: Заявка\n\nтекст\n\
        --m--\n",
    );
    let m = parse(&raw);
    assert_eq!(m.body.new_text, "См. ниже");
    assert_eq!(m.attachments.len(), 2);
    assert!(m.attachments[0].inline);
    assert_eq!(m.attachments[0].content_type, "image/png");
    assert_eq!(m.attachments[1].content_type, "message/rfc822");
    assert_eq!(m.attachments[1].name.as_deref(), Some("Заявка.eml"));
}

#[test]
fn never_panics_on_mangled_input() {
    let seeds: Vec<Vec<u8>> = vec![
        crlf("From: \"unterminated <a@b\nSubject: =?utf-8?B?!!!?=\n\nbody"),
        crlf("Content-Type: multipart/mixed; boundary=\"\"\n\n--\n--\n"),
        crlf("From: a@b.ru\nContent-Type: text/plain; charset=x-unknown-charset\n\n\u{fffd}"),
        crlf("From: a@b.ru\nContent-Transfer-Encoding: base64\n\n@@@@not base64"),
        crlf("From: a@b.ru\nContent-Type: text/html\n\n<blockquote><blockquote><td>"),
        b"\xff\xfe\x00\x01From: \xc0\xc1\r\n\r\n\xff".to_vec(),
        b"no headers at all, just text".to_vec(),
        b":\r\n\r\n".to_vec(),
    ];
    // Deterministic pseudo-random mangling of every seed.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for seed in &seeds {
        for _ in 0..200 {
            let mut bytes = seed.clone();
            for _ in 0..4 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                if bytes.is_empty() {
                    break;
                }
                let at = (state as usize) % bytes.len();
                match state % 3 {
                    0 => bytes[at] = (state >> 8) as u8,
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, (state >> 16) as u8),
                }
            }
            if let Err(MailParseError::Internal(e)) = parse_message(&bytes, &MailRules::default()) {
                panic!("internal error on {bytes:?}: {e}");
            }
        }
        let _ = parse_message(seed, &MailRules::default());
    }
}

#[test]
fn result_round_trips_through_json() {
    let raw = crlf(
        "From: Иван <ivan@x.ru>\nSubject: Привет\nDate: Mon, 3 Jun 2024 10:00:00 +0000\n\nтекст\n",
    );
    let m = parse(&raw);
    let json = serde_json::to_string(&m).expect("serializes");
    assert!(json.contains("\"kind\":\"lead\""));
    let back: InboundMail = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(back, m);
}
