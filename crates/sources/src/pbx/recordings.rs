//! Links to call recordings that the PBX keeps and gives out only through its
//! API: Mango Office (`recording_id` from `events/recording`) and Zadarma
//! (`call_id_with_rec` from `NOTIFY_RECORD`). The links expire, so they are
//! asked for when somebody opens the interest, never stored.
//!
//! * Mango: `POST <api_url>queries/recording/post/` with the form fields
//!   `vpbx_api_key`, `sign` = hex SHA-256(api_key + json + api_salt) and
//!   `json` = `{"recording_id": …, "action": "play"}`; the answer is a
//!   redirect (302) whose `Location` is the file.
//! * Zadarma: `GET <api_url>/v1/pbx/record/request/?call_id=…&format=json`
//!   with `Authorization: <api_key>:<signature>`, the signature being
//!   base64(hex HMAC-SHA1(api_secret, method + params + hex MD5(params)))
//!   over the sorted, urlencoded parameters; the answer is
//!   `{"status": "success", "link": …}` (or `links` for several files).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use serde_json::Value;
use sha1::Sha1;

use super::mango::{self, MangoConfig};
use super::settings::PbxSettings;
use super::zadarma::ZadarmaConfig;
use leadgate_domain::call::CallRecord;

const TIMEOUT: Duration = Duration::from_secs(8);

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("no {provider} account {account:?} with API credentials is configured")]
    NotConfigured { provider: String, account: String },
    #[error("the PBX API could not be reached: {0}")]
    Unreachable(String),
    #[error("the PBX API refused: {0}")]
    Refused(String),
}

/// Asks the PBXes for recording links.
pub struct RecordingLinks {
    http: reqwest::Client,
    mango: BTreeMap<String, MangoConfig>,
    zadarma: BTreeMap<String, ZadarmaConfig>,
}

impl RecordingLinks {
    pub fn new(settings: &PbxSettings) -> RecordingLinks {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            // Mango answers with the file's address as a redirect.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        RecordingLinks {
            http,
            mango: settings
                .mango
                .values()
                .map(|a| (a.config.account.clone(), a.config.clone()))
                .collect(),
            zadarma: settings
                .zadarma
                .values()
                .map(|a| (a.config.account.clone(), a.config.clone()))
                .collect(),
        }
    }

    /// Whether `record` has a recording that only the provider's API can
    /// give a link to.
    pub fn needs_fetch(record: &CallRecord) -> bool {
        record.recording_url().is_none()
            && record.recording_id().is_some()
            && matches!(
                record.provider(),
                mango::PROVIDER | super::zadarma::PROVIDER
            )
    }

    /// A playable link to the call's recording, `None` when it has none.
    pub async fn link(&self, record: &CallRecord) -> Result<Option<String>, RecordingError> {
        if let Some(url) = record.recording_url() {
            return Ok(Some(url.to_owned()));
        }
        let Some(id) = record.recording_id() else {
            return Ok(None);
        };
        let missing = || RecordingError::NotConfigured {
            provider: record.provider().to_owned(),
            account: record.account().to_owned(),
        };
        match record.provider() {
            mango::PROVIDER => {
                let config = self.mango.get(record.account()).ok_or_else(missing)?;
                self.mango_link(config, id).await.map(Some)
            }
            super::zadarma::PROVIDER => {
                let config = self.zadarma.get(record.account()).ok_or_else(missing)?;
                self.zadarma_link(config, id).await.map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn mango_link(&self, config: &MangoConfig, id: &str) -> Result<String, RecordingError> {
        let json = serde_json::json!({"recording_id": id, "action": "play"}).to_string();
        let sign = mango::sign(&config.api_key, &json, &config.api_salt);
        let url = format!(
            "{}/queries/recording/post/",
            config.api_url.trim_end_matches('/')
        );
        let response = self
            .http
            .post(&url)
            .form(&[
                ("vpbx_api_key", config.api_key.as_str()),
                ("sign", sign.as_str()),
                ("json", json.as_str()),
            ])
            .send()
            .await
            .map_err(|e| RecordingError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_redirection() {
            return response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.starts_with("https://") || v.starts_with("http://"))
                .map(str::to_owned)
                .ok_or_else(|| RecordingError::Refused("a redirect without a location".into()));
        }
        let body = response.text().await.unwrap_or_default();
        Err(RecordingError::Refused(format!(
            "HTTP {}: {}",
            status.as_u16(),
            short(&body)
        )))
    }

    async fn zadarma_link(
        &self,
        config: &ZadarmaConfig,
        call_id: &str,
    ) -> Result<String, RecordingError> {
        let Some(key) = config.api_key.as_deref().filter(|k| !k.is_empty()) else {
            return Err(RecordingError::NotConfigured {
                provider: super::zadarma::PROVIDER.into(),
                account: config.account.clone(),
            });
        };
        let method = "/v1/pbx/record/request/";
        let params = form_urlencoded::Serializer::new(String::new())
            .append_pair("call_id", call_id)
            .append_pair("format", "json")
            .finish();
        let signature = zadarma_signature(&config.api_secret, method, &params);
        let url = format!("{}{method}?{params}", config.api_url.trim_end_matches('/'));
        let response = self
            .http
            .get(&url)
            .header(reqwest::header::AUTHORIZATION, format!("{key}:{signature}"))
            .send()
            .await
            .map_err(|e| RecordingError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() && body["status"] == "success" {
            let link = body["link"].as_str().or_else(|| {
                body["links"]
                    .as_array()
                    .and_then(|l| l.first())
                    .and_then(Value::as_str)
            });
            if let Some(link) =
                link.filter(|l| l.starts_with("https://") || l.starts_with("http://"))
            {
                return Ok(link.to_owned());
            }
        }
        Err(RecordingError::Refused(format!(
            "HTTP {}: {}",
            status.as_u16(),
            body["message"].as_str().unwrap_or("no link in the answer")
        )))
    }
}

/// Zadarma's request signature (its PHP client's `_getAuthHeader`).
pub fn zadarma_signature(secret: &str, method: &str, params: &str) -> String {
    let md5 = hex::encode(Md5::digest(params.as_bytes()));
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(format!("{method}{params}{md5}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hex::encode(mac.finalize().into_bytes()))
}

fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zadarma_signature_signs_method_params_and_their_md5() {
        let params = "call_id=1234.5678&format=json";
        let md5 = hex::encode(Md5::digest(params.as_bytes()));
        let mut mac = Hmac::<Sha1>::new_from_slice(b"secret").expect("key");
        mac.update(format!("/v1/pbx/record/request/{params}{md5}").as_bytes());
        let expected = base64::engine::general_purpose::STANDARD
            .encode(hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            zadarma_signature("secret", "/v1/pbx/record/request/", params),
            expected
        );
    }
}
