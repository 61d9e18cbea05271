//! Website forms (Tilda, Bitrix, WordPress, hand-written HTML) posted to
//! `/hooks/forms/{form}` as urlencoded, multipart or JSON.

mod fields;
pub mod settings;

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::Json;
use chrono::Utc;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Source;
use crate::api::check_key;
use crate::SourceContext;
use leadgate_domain::appeal::{
    strip_internal_attributes, AttachmentMeta, Channel, Intent, NewAppeal,
};
use leadgate_http::error::ApiError;
use leadgate_http::extract::body_bytes;
use settings::FormSettings;

pub use fields::{map_fields, FormFields};

pub struct FormsSource;

impl Source for FormsSource {
    fn name(&self) -> &str {
        "forms"
    }

    fn routes(&self) -> Option<axum::Router<SourceContext>> {
        Some(axum::Router::new().route("/hooks/forms/{form}", post(post_form)))
    }
}

/// A browser navigating from the site's page, as opposed to a script or a
/// webhook: it gets a redirect or a page, not JSON.
fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Accept one form submission.
#[utoipa::path(
    post, path = "/hooks/forms/{form}", tag = "sources",
    params(("form" = String, Path, description = "Form name from [forms.NAME] in the configuration")),
    request_body(content = String, description = "Form fields as application/x-www-form-urlencoded, multipart/form-data or a JSON object"),
    responses(
        (status = 202, description = "Stored", body = FormReceipt),
        (status = 200, description = "Already stored, a connection check (`test=test`) or a dropped bot post"),
        (status = 303, description = "Stored; a browser is sent to the thank-you page"),
        (status = 401, description = "Wrong form secret"),
        (status = 404, description = "Unknown form"),
        (status = 413, description = "Body too large"),
        (status = 415, description = "Unsupported content type"),
        (status = 422, description = "No name and no contact point"),
    )
)]
pub async fn post_form(
    State(state): State<SourceContext>,
    Path(form_name): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    let Some(form) = state.settings.forms.get(&form_name).cloned() else {
        state.metrics.unknown_endpoint("unknown_form");
        tracing::debug!(form = %leadgate_http::truncated(&form_name), "post to a form that is not configured");
        return Err(ApiError::NotFound("form"));
    };
    let headers = request.headers().clone();
    let html = wants_html(&headers);
    let (fields, attachments, raw) = read_fields(request, &state).await?;
    let source = form
        .source
        .clone()
        .unwrap_or_else(|| format!("form:{form_name}"));

    // Tilda checks a new webhook with a single `test=test` field.
    if fields.len() == 1
        && fields
            .first()
            .is_some_and(|(k, v)| k == "test" && v == "test")
    {
        return Ok((StatusCode::OK, "ok").into_response());
    }
    check_secret(&form, &headers, &fields).inspect_err(|_| {
        state.metrics.rejected(&source, "bad_secret");
        tracing::warn!(form = %form_name, "form post with a wrong or missing secret");
    })?;
    if let Some(trap) = &form.honeypot {
        if fields
            .iter()
            .any(|(k, v)| k == trap && !v.trim().is_empty())
        {
            state.metrics.rejected(&source, "honeypot");
            tracing::info!(form = %form_name, "honeypot filled; dropped as a bot");
            return Ok(thank_you(&form, html));
        }
    }

    let mapped = map_fields(
        &fields,
        &form.fields,
        &[&form.secret_field, form.honeypot.as_deref().unwrap_or("")],
    );
    check_lengths(&mapped, &state.settings.limits).inspect_err(|_| {
        state.metrics.rejected(&source, "too_long");
    })?;
    if mapped.contact.is_empty() {
        state.metrics.rejected(&source, "empty_contact");
        return Err(ApiError::unprocessable(
            "contact",
            "the form has no name, phone or email field (see [forms.NAME.fields])",
        ));
    }
    let external_id = match fields.iter().find(|(k, _)| k == "tranid") {
        Some((_, tranid)) => {
            check_key("tranid", tranid)?;
            tranid.trim().to_string()
        }
        None => content_key(&fields, form.dedup_window_secs),
    };
    let mut attributes = mapped.attributes;
    strip_internal_attributes(&mut attributes);
    let appeal = NewAppeal {
        channel: Channel::Form,
        source,
        external_id,
        received_at: Utc::now(),
        contact: mapped.contact,
        subject: mapped.subject,
        text: mapped.message,
        attachments,
        attributes,
        raw_payload: raw,
        intent: Intent::Lead,
    };
    let accepted = state.intake.submit(appeal).await?;
    if html {
        return Ok(thank_you(&form, true));
    }
    let code = if accepted.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    // Anonymous posters get no internal id: ids count our appeals and would
    // let anybody enumerate them.
    Ok((
        code,
        Json(FormReceipt {
            status: accepted.status,
        }),
    )
        .into_response())
}

/// `limits.form_name_max_chars` for the name, `limits.form_text_max_chars`
/// for every other field: a form is a person's words, not a file upload.
fn check_lengths(
    mapped: &FormFields,
    limits: &leadgate_http::settings::LimitSettings,
) -> Result<(), ApiError> {
    let too_long = |field: &str, value: &str, max: usize| {
        if value.chars().count() > max {
            Err(ApiError::unprocessable(
                field,
                format!("longer than {max} characters"),
            ))
        } else {
            Ok(())
        }
    };
    let text = limits.form_text_max_chars;
    let c = &mapped.contact;
    too_long(
        "name",
        c.name.as_deref().unwrap_or(""),
        limits.form_name_max_chars,
    )?;
    too_long("company", c.company.as_deref().unwrap_or(""), text)?;
    too_long("subject", mapped.subject.as_deref().unwrap_or(""), text)?;
    too_long("message", mapped.message.as_deref().unwrap_or(""), text)?;
    for phone in &c.phones {
        too_long("phone", phone, text)?;
    }
    for email in &c.emails {
        too_long("email", email, text)?;
    }
    for (key, value) in &mapped.attributes {
        if let serde_json::Value::String(v) = value {
            too_long(key, v, text)?;
        }
    }
    Ok(())
}

/// What a script posting a form is told: stored (202) or already stored (200).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct FormReceipt {
    pub status: leadgate_domain::appeal::AppealStatus,
}

fn thank_you(form: &FormSettings, html: bool) -> Response {
    match (&form.thank_you_url, html) {
        (Some(url), true) => Redirect::to(url).into_response(),
        (None, true) => (
            StatusCode::OK,
            Html("<!doctype html><meta charset=utf-8><title>Спасибо</title><p>Спасибо! Ваша заявка принята, мы скоро свяжемся с вами.</p>"),
        )
            .into_response(),
        (_, false) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))).into_response(),
    }
}

fn check_secret(
    form: &FormSettings,
    headers: &HeaderMap,
    fields: &[(String, String)],
) -> Result<(), ApiError> {
    let Some(expected) = &form.secret else {
        return Ok(());
    };
    let presented = headers
        .get(form.secret_header.as_str())
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| {
            fields
                .iter()
                .find(|(k, _)| k == &form.secret_field)
                .map(|(_, v)| v.clone())
        })
        .ok_or(ApiError::Unauthorized)?;
    if bool::from(expected.expose().as_bytes().ct_eq(presented.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// Without a `tranid`, the same fields within one time bucket are one appeal:
/// a double click or a browser retry must not make two.
fn content_key(fields: &[(String, String)], window_secs: u64) -> String {
    let mut sorted: Vec<&(String, String)> = fields.iter().collect();
    sorted.sort();
    let mut hasher = Sha256::new();
    for (k, v) in sorted {
        hasher.update(k.as_bytes());
        hasher.update([0]);
        hasher.update(v.as_bytes());
        hasher.update([0]);
    }
    let bucket = Utc::now().timestamp() / i64::try_from(window_secs.max(1)).unwrap_or(600);
    hasher.update(bucket.to_be_bytes());
    format!("h:{}", hex::encode(&hasher.finalize()[..16]))
}

type ReadForm = (Vec<(String, String)>, Vec<AttachmentMeta>, String);

/// Reads the fields whatever the encoding. Invalid UTF-8 is replaced, not
/// refused: a lead with one garbled letter is still a lead.
async fn read_fields(request: Request, state: &SourceContext) -> Result<ReadForm, ApiError> {
    let media = media_type(request.headers());
    match media.as_str() {
        "application/x-www-form-urlencoded" | "" => {
            let bytes = body_bytes(request, state).await?;
            let fields = form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            Ok((
                fields,
                Vec::new(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        }
        "application/json" => {
            let bytes = body_bytes(request, state).await?;
            let value: serde_json::Value = leadgate_http::extract::parse_json(&bytes)?;
            let serde_json::Value::Object(map) = value else {
                return Err(ApiError::bad(
                    "(body)",
                    "expected a JSON object of form fields",
                ));
            };
            let fields = map
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect();
            Ok((
                fields,
                Vec::new(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ))
        }
        "multipart/form-data" => {
            let limit = state.body_limit;
            let mut multipart = Multipart::from_request(request, state)
                .await
                .map_err(|e| ApiError::bad("(body)", e.body_text()))?;
            let mut fields = Vec::new();
            let mut files = Vec::new();
            let mut total = 0usize;
            loop {
                let field = match multipart.next_field().await {
                    Ok(Some(f)) => f,
                    Ok(None) => break,
                    Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        return Err(ApiError::PayloadTooLarge { limit })
                    }
                    Err(e) => return Err(ApiError::bad("(body)", e.body_text())),
                };
                let name = field.name().unwrap_or("").to_string();
                let file_name = field.file_name().map(str::to_string);
                let content_type = field
                    .content_type()
                    .unwrap_or("application/octet-stream")
                    .to_string();
                let data = field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::PayloadTooLarge { limit }
                    } else {
                        ApiError::bad(name.clone(), e.body_text())
                    }
                })?;
                total += data.len();
                if total > limit {
                    return Err(ApiError::PayloadTooLarge { limit });
                }
                match file_name {
                    Some(file_name) => files.push(AttachmentMeta {
                        name: file_name,
                        content_type,
                        size: data.len() as u64,
                    }),
                    None => fields.push((name, String::from_utf8_lossy(&data).into_owned())),
                }
            }
            let raw = serde_json::json!({"fields": fields, "files": files}).to_string();
            Ok((fields, files, raw))
        }
        other => Err(ApiError::UnsupportedMediaType(other.to_string())),
    }
}
