//! One mailbox's fetcher: connects, takes every message after the stored
//! cursor in UID order, stores each batch together with the cursor, marks
//! the messages per `after`, then waits (IDLE or polling) and repeats.
//! Errors reconnect with exponential backoff and jitter; each mailbox runs
//! in its own task, so a slow or broken one holds up nobody else.

use std::sync::Arc;
use std::time::Duration;

use async_imap::types::Fetch;
use futures_util::TryStreamExt;
use rand::Rng;
use serde_json::json;

use super::conn::{connect, ConnectError, ImapSession};
use super::convert::{to_item, Fetched};
use super::message::MailRules;
use super::settings::{AfterAction, MailboxSettings};
use crate::SourceContext;
use leadgate_core::health::Heartbeat;
use leadgate_core::intake::IntakeError;
use leadgate_store::{MailCursor, StorageError};

/// At most this many messages are fetched and committed together, however
/// small; the real bound of a batch is `mail.fetch_batch_bytes`.
pub const FETCH_CHUNK: usize = 200;
/// Sizes are asked for this many UIDs at a time.
const SIZE_CHUNK: usize = 1000;
/// Of an oversize message only the header is fetched, and of the header at
/// most this much.
const MAX_HEADER_BYTES: u32 = 256 * 1024;
/// IDLE is re-issued before the 29 minutes after which servers may drop it.
const IDLE_MAX: Duration = Duration::from_secs(28 * 60);
/// A command that takes longer is a hung connection.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("IMAP command timed out")]
    Timeout,
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("intake: {0}")]
    Intake(#[from] IntakeError),
}

async fn timed<T, E: Into<FetchError>>(
    f: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, FetchError> {
    match tokio::time::timeout(COMMAND_TIMEOUT, f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(FetchError::Timeout),
    }
}

/// The mailbox's connection state, on `/metrics` and `/readyz`.
struct Status<'a> {
    ctx: &'a SourceContext,
    name: &'a str,
}

impl Status<'_> {
    fn set(&self, state: &str, error: Option<String>) {
        let up = matches!(state, "idle" | "polling" | "fetching");
        self.ctx.metrics.set_gauge(
            format!("leadgate_mail_mailbox_up{{mailbox=\"{}\"}}", self.name),
            if up { 1.0 } else { 0.0 },
        );
        self.ctx.metrics.set_detail(
            &format!("mail:{}", self.name),
            json!({"state": state, "error": error, "since": chrono::Utc::now()}),
        );
    }
}

/// Reads one mailbox until shutdown. `beat` is its heartbeat: every pass,
/// every batch and the waits in between (IDLE, polling, the reconnect
/// backoff) beat; a command hung past [`COMMAND_TIMEOUT`] does not.
pub async fn run_mailbox(
    mailbox: MailboxSettings,
    ctx: SourceContext,
    rules: Arc<MailRules>,
    beat: Heartbeat,
) {
    let status = Status {
        ctx: &ctx,
        name: &mailbox.name,
    };
    let mut backoff = BACKOFF_MIN;
    loop {
        beat.beat();
        status.set("connecting", None);
        let result = tokio::select! {
            r = session_loop(&mailbox, &ctx, &rules, &status, &mut backoff, &beat) => r,
            _ = ctx.shutdown.cancelled() => break,
        };
        let Err(e) = result else { break };
        let auth = matches!(&e, FetchError::Connect(c) if c.is_auth());
        let tls = matches!(&e, FetchError::Connect(c) if c.is_tls());
        if tls {
            tracing::error!(mailbox = %mailbox.name, host = %mailbox.host, error = %e,
                retry_in_secs = backoff.as_secs(),
                "mailbox: TLS refused; the server's certificate is not trusted (mail.mailboxes.ca_file) or TLS failed");
        } else {
            tracing::warn!(mailbox = %mailbox.name, host = %mailbox.host, auth, error = %e,
                retry_in_secs = backoff.as_secs(), "mailbox: connection failed; reconnecting");
        }
        let state = if auth {
            "login_refused"
        } else if tls {
            "tls_refused"
        } else {
            "error"
        };
        status.set(state, Some(e.to_string()));
        let jitter = rand::thread_rng().gen_range(0..=backoff.as_millis() as u64 / 4);
        if beat
            .sleep_or_stop(&ctx.shutdown, backoff + Duration::from_millis(jitter))
            .await
        {
            break;
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
    status.set("stopped", None);
}

async fn session_loop(
    mailbox: &MailboxSettings,
    ctx: &SourceContext,
    rules: &MailRules,
    status: &Status<'_>,
    backoff: &mut Duration,
    beat: &Heartbeat,
) -> Result<(), FetchError> {
    let mut session = timed(connect(mailbox)).await?;
    let caps = timed(session.capabilities()).await?;
    let idle = mailbox.idle && caps.has_str("IDLE");
    let can_move = caps.has_str("MOVE");
    tracing::info!(mailbox = %mailbox.name, idle, "mailbox connected");
    loop {
        beat.beat();
        status.set("fetching", None);
        for folder in &mailbox.folders {
            sync_folder(&mut session, mailbox, folder, ctx, rules, can_move, beat).await?;
        }
        // A full pass worked: the next failure starts the backoff afresh.
        *backoff = BACKOFF_MIN;
        let poll = Duration::from_secs(mailbox.poll_interval_secs);
        if idle {
            status.set("idle", None);
            // IDLE watches the folder selected last; with several folders
            // the others are looked at every poll interval.
            let limit = if mailbox.folders.len() == 1 {
                IDLE_MAX
            } else {
                poll.min(IDLE_MAX)
            };
            // Mail that arrived after the last SEARCH is announced by an
            // untagged EXISTS on whatever command comes next, which can be
            // the IDLE command itself: look at those before waiting, or a
            // message could sit unseen until the next re-issue.
            let unsolicited = session.unsolicited_responses.clone();
            if news(&unsolicited) {
                continue;
            }
            let mut handle = session.idle();
            timed(handle.init()).await?;
            if !news(&unsolicited) {
                let (wait, stop) = handle.wait_with_timeout(limit);
                // The server's keepalives restart the crate's own timeout,
                // so the overall limit is enforced here.
                let _ = beat.keep_alive(tokio::time::timeout(limit, wait)).await;
                drop(stop);
            }
            session = timed(handle.done()).await?;
        } else {
            status.set("polling", None);
            beat.keep_alive(tokio::time::sleep(poll)).await;
            timed(session.noop()).await?;
        }
    }
}

/// Drains the unsolicited responses; true if any announced new mail.
fn news(rx: &async_channel::Receiver<async_imap::types::UnsolicitedResponse>) -> bool {
    let mut any = false;
    while let Ok(r) = rx.try_recv() {
        any |= matches!(
            r,
            async_imap::types::UnsolicitedResponse::Exists(_)
                | async_imap::types::UnsolicitedResponse::Recent(_)
        );
    }
    any
}

/// `1:5,7,9:12` from sorted UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < uids.len() {
        let start = uids[i];
        let mut end = start;
        while i + 1 < uids.len() && uids[i + 1] == end + 1 {
            i += 1;
            end = uids[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

async fn fetch_all(
    session: &mut ImapSession,
    set: &str,
    query: &str,
) -> Result<Vec<Fetch>, FetchError> {
    timed(async {
        let stream = session.uid_fetch(set, query).await?;
        stream.try_collect::<Vec<Fetch>>().await
    })
    .await
}

async fn sync_folder(
    session: &mut ImapSession,
    mailbox: &MailboxSettings,
    folder: &str,
    ctx: &SourceContext,
    rules: &MailRules,
    can_move: bool,
    beat: &Heartbeat,
) -> Result<(), FetchError> {
    let store = &ctx.store;
    let selected = timed(session.select(folder)).await?;
    let validity = selected.uid_validity.unwrap_or(0);
    let stored = store.mail_cursor(&mailbox.name, folder).await?;
    let start = match stored {
        Some(c) if c.uid_validity == validity => c.last_uid.saturating_add(1),
        Some(c) => {
            tracing::warn!(mailbox = %mailbox.name, folder, old = c.uid_validity, new = validity,
                "UIDVALIDITY changed: rescanning the folder; messages already taken are skipped by Message-ID");
            1
        }
        None => 1,
    };
    if stored.map(|c| c.uid_validity) != Some(validity) {
        store
            .set_mail_cursor(
                &mailbox.name,
                folder,
                MailCursor {
                    uid_validity: validity,
                    last_uid: 0,
                },
            )
            .await?;
    }
    if selected.exists == 0 || selected.uid_next.is_some_and(|next| start >= next) {
        return Ok(());
    }
    let found = timed(session.uid_search(format!("UID {start}:*"))).await?;
    // `N:*` always matches the last message, even below N.
    let mut uids: Vec<u32> = found.into_iter().filter(|u| *u >= start).collect();
    uids.sort_unstable();
    let limit = rules.max_message_bytes;
    let budget = ctx.settings.mail.fetch_batch_bytes;
    for some in uids.chunks(SIZE_CHUNK) {
        // Sizes first, so that a batch is bounded by what it brings into
        // memory, not by how many messages it has.
        let fetched = fetch_all(session, &uid_set(some), "(UID RFC822.SIZE)").await?;
        let sizes: Vec<(u32, usize)> = some
            .iter()
            .map(|&uid| {
                let size = fetched
                    .iter()
                    .find(|f| f.uid == Some(uid))
                    .and_then(|f| f.size)
                    .map_or(0, |s| s as usize);
                (uid, size)
            })
            .collect();
        for batch in batches(&sizes, limit, budget) {
            take_chunk(session, mailbox, folder, validity, &batch, ctx, rules).await?;
            apply_after(
                session,
                mailbox,
                folder,
                &batch.iter().map(|m| m.0).collect::<Vec<_>>(),
                can_move,
            )
            .await;
            beat.beat();
        }
    }
    Ok(())
}

/// What one message costs a batch: its size, or for an oversize message
/// (whose body is not fetched) its header's at most.
fn cost(size: usize, max_message_bytes: usize) -> usize {
    if size > max_message_bytes {
        MAX_HEADER_BYTES as usize
    } else {
        size
    }
}

/// Cuts (uid, size) into consecutive batches of at most `budget` bytes (a
/// message larger than the budget alone is a batch of its own) and at most
/// [`FETCH_CHUNK`] messages.
pub fn batches(
    sizes: &[(u32, usize)],
    max_message_bytes: usize,
    budget: usize,
) -> Vec<Vec<(u32, usize)>> {
    let mut out: Vec<Vec<(u32, usize)>> = Vec::new();
    let mut current: Vec<(u32, usize)> = Vec::new();
    let mut bytes = 0usize;
    for &(uid, size) in sizes {
        let c = cost(size, max_message_bytes);
        if !current.is_empty() && (bytes.saturating_add(c) > budget || current.len() >= FETCH_CHUNK)
        {
            out.push(std::mem::take(&mut current));
            bytes = 0;
        }
        current.push((uid, size));
        bytes = bytes.saturating_add(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

async fn take_chunk(
    session: &mut ImapSession,
    mailbox: &MailboxSettings,
    folder: &str,
    validity: u32,
    batch: &[(u32, usize)],
    ctx: &SourceContext,
    rules: &MailRules,
) -> Result<(), FetchError> {
    let chunk: Vec<u32> = batch.iter().map(|m| m.0).collect();
    let over = |m: &&(u32, usize)| m.1 > rules.max_message_bytes;
    let big: Vec<u32> = batch.iter().filter(over).map(|m| m.0).collect();
    let normal: Vec<u32> = batch.iter().filter(|m| !over(m)).map(|m| m.0).collect();
    let mut fetched = Vec::with_capacity(chunk.len());
    if !normal.is_empty() {
        fetched
            .extend(fetch_all(session, &uid_set(&normal), "(UID RFC822.SIZE BODY.PEEK[])").await?);
    }
    if !big.is_empty() {
        // Of an oversize message only its header comes over the wire; the
        // appeal is made from it and notes the real size.
        let query = format!("(UID RFC822.SIZE BODY.PEEK[HEADER]<0.{MAX_HEADER_BYTES}>)");
        fetched.extend(fetch_all(session, &uid_set(&big), &query).await?);
    }
    let mut items = Vec::with_capacity(chunk.len());
    for &uid in &chunk {
        // A message expunged between SEARCH and FETCH is simply gone.
        let Some(f) = fetched.iter().find(|f| f.uid == Some(uid)) else {
            continue;
        };
        let raw = f.body().or_else(|| f.header()).unwrap_or_default();
        let size = f.size.map_or(raw.len(), |s| s as usize);
        let item = to_item(
            &ctx.store,
            mailbox,
            rules,
            Fetched {
                folder,
                uid,
                uid_validity: validity,
                raw,
                size,
            },
        )
        .await?;
        let kind = item
            .appeal
            .attributes
            .get("mail_kind")
            .and_then(|v| v.as_str())
            .unwrap_or("unparsed")
            .to_string();
        ctx.metrics.add_to_gauge(
            format!(
                "leadgate_mail_messages_total{{mailbox=\"{}\",kind=\"{kind}\"}}",
                mailbox.name
            ),
            1.0,
        );
        items.push(item);
    }
    let last = chunk.last().copied().unwrap_or(0);
    let mut accepting = ctx.intake.begin().await?;
    for item in &items {
        let a = accepting
            .submit_as(&item.appeal, item.status, item.decision.as_ref())
            .await?;
        if let (true, Some(id)) = (a.created, &item.message_id) {
            ctx.store
                .record_mail_thread(accepting.conn(), id, a.id)
                .await?;
        }
    }
    let cursor = MailCursor {
        uid_validity: validity,
        last_uid: last,
    };
    ctx.store
        .save_mail_cursor(accepting.conn(), &mailbox.name, folder, cursor)
        .await?;
    let accepted = accepting.commit().await?;
    for (item, a) in items.iter().zip(&accepted) {
        tracing::info!(
            mailbox = %mailbox.name,
            folder,
            uid = item.appeal.attributes.get("uid").and_then(|v| v.as_u64()).unwrap_or(0),
            appeal_id = a.id,
            new = a.created,
            kind = item.appeal.attributes.get("mail_kind").and_then(|v| v.as_str()).unwrap_or("unparsed"),
            "mail taken"
        );
    }
    Ok(())
}

/// Marks the stored messages on the server. A failure here loses nothing
/// (the appeals and the cursor are committed), so it is only logged.
async fn apply_after(
    session: &mut ImapSession,
    mailbox: &MailboxSettings,
    folder: &str,
    chunk: &[u32],
    can_move: bool,
) {
    let set = uid_set(chunk);
    let result: Result<(), FetchError> = async {
        match &mailbox.after {
            AfterAction::Leave => {}
            AfterAction::Seen => store_flags(session, &set, "\\Seen").await?,
            AfterAction::Keyword(kw) => store_flags(session, &set, kw).await?,
            AfterAction::Move(target) => {
                if can_move {
                    timed(session.uid_mv(&set, target)).await?;
                } else {
                    timed(session.uid_copy(&set, target)).await?;
                    store_flags(session, &set, "\\Deleted").await?;
                    timed(async {
                        let s = session.uid_expunge(&set).await?;
                        s.try_collect::<Vec<_>>().await
                    })
                    .await?;
                }
            }
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(mailbox = %mailbox.name, folder, uids = %set, error = %e,
            "mailbox: marking processed messages failed (they are stored)");
    }
}

async fn store_flags(session: &mut ImapSession, set: &str, flag: &str) -> Result<(), FetchError> {
    timed(async {
        let s = session
            .uid_store(set, format!("+FLAGS.SILENT ({flag})"))
            .await?;
        s.try_collect::<Vec<_>>().await
    })
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn batches_are_bounded_by_bytes() {
        use super::batches;
        let sizes = [(1, 400), (2, 400), (3, 400), (4, 2_000), (5, 10)];
        // Budget 1000: two 400s fit, the third starts a new batch; the
        // 2000-byte message is over the budget and goes alone.
        let got: Vec<Vec<u32>> = batches(&sizes, 5_000, 1_000)
            .into_iter()
            .map(|b| b.into_iter().map(|m| m.0).collect())
            .collect();
        assert_eq!(got, vec![vec![1, 2], vec![3], vec![4], vec![5]]);
        // Oversize messages cost only their header.
        let big = [(1, 50_000_000), (2, 50_000_000)];
        assert_eq!(batches(&big, 1_000_000, 1_000_000).len(), 1);
    }

    #[test]
    fn uid_sets_compress_runs() {
        assert_eq!(uid_set(&[1, 2, 3, 5, 7, 8]), "1:3,5,7:8");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[]), "");
    }
}
