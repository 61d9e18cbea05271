//! From looked-up keys to a decision. Pure: no I/O.
//!
//! Each shortlisted client gets a score (the sum of its fields' weights);
//! two thresholds split auto-link / review / new client, and a few rules hold
//! whatever the score:
//!
//! * a name (or a company name) alone never links;
//! * a known contact point with a clearly different person's name goes to
//!   review;
//! * a key carried by more than `max_shared_clients` clients never links on
//!   its own, and a key carried by more than `max_candidates_per_key` clients
//!   proposes nobody;
//! * two clients that each carry an identifying key of the appeal go to
//!   review;
//! * a new person writing from the corporate domain of exactly one client
//!   becomes a new contact person of that client;
//! * the ИНН is a company key like the domain, but stronger: it decides
//!   before the domain and the company name, tells apart clients sharing a
//!   contact point, and a known contact point with another client's ИНН (or
//!   of a client whose own ИНН is another) goes to review.

use std::collections::BTreeMap;

use super::keys::{MatchField, Probe};
use super::score::{name_score, MatchHow, MatchWeights};
use super::MatchingSettings;
use super::{CandidateScore, Decision, DecisionKind, Evidence, KeyHits, StoredPerson};
use crate::contact::{
    company_key, translit_key, NameAgreement, PersonName, Phone, PhoneKind, Region,
};

/// Candidates scored in full per appeal; the rest of a crowd only ever
/// shares weak keys with the appeal.
pub const SHORTLIST: usize = 10;

/// The clients worth loading: ranked by the weights of the keys they share
/// with the appeal, before names are compared.
pub fn shortlist(hits: &[KeyHits], settings: &MatchingSettings) -> Vec<i64> {
    let w = &settings.weights;
    let mut per_client: BTreeMap<i64, BTreeMap<MatchField, f64>> = BTreeMap::new();
    for kh in hits.iter().filter(|k| !k.crowded) {
        let shared = kh.shared_by();
        let weight = match kh.key.field {
            MatchField::Name => w.name_compatible - (shared.max(1) as f64).log2() / 2.0,
            f => w.key_weight(f, shared),
        };
        for h in &kh.hits {
            let slot = per_client
                .entry(h.client_id)
                .or_default()
                .entry(kh.key.field)
                .or_insert(f64::MIN);
            *slot = slot.max(weight);
        }
    }
    let mut ranked: Vec<(f64, i64)> = per_client
        .into_iter()
        .map(|(id, fields)| (fields.values().sum(), id))
        .collect();
    ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .take(SHORTLIST)
        .map(|(_, id)| id)
        .collect()
}

/// One candidate after scoring.
#[derive(Debug, Clone)]
struct Scored {
    client_id: i64,
    score: f64,
    evidence: Vec<Evidence>,
    /// Some contact point (phone, mailbox, messenger) agrees.
    contact: bool,
    /// ... and at most `max_shared_clients` clients carry it.
    identified: bool,
    /// Clients carrying the appeal's corporate domain, when this one does.
    domain_shared_by: Option<usize>,
    /// Clients carrying the appeal's ИНН, when this one does.
    inn_shared_by: Option<usize>,
    /// The client has an ИНН, and the appeal names another.
    inn_conflict: bool,
    /// The appeal's name against this client's best-agreeing person.
    name: Option<NameAgreement>,
    /// The person the appeal is from: whose name agrees, or whose contact
    /// point matched.
    person_id: Option<i64>,
    /// Whether `person_id` was chosen by an agreeing name.
    name_agrees: bool,
    /// The appeal's contact points this client carries.
    points: Vec<(MatchField, String)>,
    /// The client is a company and the agreeing points are its office line:
    /// phones only, carried by no other client, and either the company's
    /// own (not one person's) or a landline with the company named.
    office_line: bool,
}

pub fn decide(
    probe: &Probe,
    hits: &[KeyHits],
    shortlist: &[i64],
    persons: &[StoredPerson],
    settings: &MatchingSettings,
) -> Decision {
    let mut scored: Vec<Scored> = shortlist
        .iter()
        .map(|&id| score_client(id, probe, hits, persons, settings))
        .collect();
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.client_id.cmp(&b.client_id))
    });

    let auto = settings.auto_link_threshold;
    let review = settings.review_threshold;
    let outcome = choose(&scored, probe, auto, review);
    let mut colleague = false;
    let (kind, chosen, reason) = match outcome {
        Outcome::Link(i, reason) => (DecisionKind::ExistingClient, Some(i), reason),
        Outcome::Colleague(i, reason) => {
            colleague = true;
            (DecisionKind::ExistingClient, Some(i), reason)
        }
        Outcome::Review(reason) => (DecisionKind::Review, None, reason),
        Outcome::New(reason) => (DecisionKind::NewClient, None, reason),
    };

    let candidates: Vec<&Scored> = match kind {
        DecisionKind::Review => scored
            .iter()
            .filter(|s| {
                s.score >= review
                    || s.identified
                    || s.domain_shared_by.is_some()
                    || s.inn_shared_by.is_some()
            })
            .collect(),
        _ => scored.iter().filter(|s| s.score > 0.0).collect(),
    };
    let mut matched_on: Vec<MatchField> = match (kind, chosen) {
        (DecisionKind::ExistingClient, Some(i)) => positive_fields(&scored[i]),
        (DecisionKind::Review, _) => candidates.iter().flat_map(|s| positive_fields(s)).collect(),
        _ => Vec::new(),
    };
    matched_on.sort();
    matched_on.dedup();

    let (client_id, person_id, new_person, score) = match chosen.map(|i| &scored[i]) {
        Some(s) => {
            let (person_id, new_person) = if (s.contact || s.name_agrees) && !colleague {
                (s.person_id, None)
            } else {
                // A colleague: a new contact person named as on the appeal,
                // or after the address when the appeal has no name.
                let name = probe
                    .display_name
                    .clone()
                    .or_else(|| probe.contact_keys.first().map(|k| k.raw.clone()));
                (None, name)
            };
            (
                Some(s.client_id),
                person_id,
                new_person,
                Some(round(s.score)),
            )
        }
        None => (None, None, None, scored.first().map(|s| round(s.score))),
    };
    Decision {
        kind,
        client_id,
        person_id,
        new_person,
        matched_on,
        score,
        candidates: {
            let mut ids: Vec<i64> = candidates.iter().map(|s| s.client_id).collect();
            ids.sort_unstable();
            ids
        },
        scores: scored
            .iter()
            .map(|s| CandidateScore {
                client_id: s.client_id,
                score: round(s.score),
            })
            .collect(),
        evidence: scored.into_iter().flat_map(|s| s.evidence).collect(),
        ignored: probe.ignored.clone(),
        reason: reason.to_string(),
    }
}

enum Outcome {
    Link(usize, &'static str),
    /// Link, as a new contact person of that client.
    Colleague(usize, &'static str),
    Review(&'static str),
    New(&'static str),
}

fn choose(scored: &[Scored], probe: &Probe, auto: f64, review: f64) -> Outcome {
    if scored.is_empty() {
        return Outcome::New("no client shares a key with the appeal");
    }
    // Contact points first: they identify a person.
    if let Some((i, best)) = scored
        .iter()
        .enumerate()
        .find(|(_, s)| s.contact && (s.identified || s.score >= review))
    {
        // The ИНН names one taxpayer: a known person writing for another
        // is someone who changed jobs, or a mistake; an operator decides.
        if probe.inn.is_some() && best.inn_shared_by.is_none() {
            if best.inn_conflict {
                return Outcome::Review(
                    "a known contact point, with another ИНН than its client's",
                );
            }
            if scored
                .iter()
                .any(|s| s.client_id != best.client_id && s.inn_shared_by.is_some())
            {
                return Outcome::Review("the contact point is one client's, the ИНН another's");
            }
        }
        // A point several clients share is settled by the ИНН only one of
        // them carries.
        let inn_decides = best.inn_shared_by == Some(1);
        let alone = !scored
            .iter()
            .any(|s| s.client_id != best.client_id && s.contact);
        if best.office_line
            && alone
            && !probe.name.is_empty()
            && matches!(
                best.name,
                Some(NameAgreement::Conflict | NameAgreement::Unknown) | None
            )
        {
            return Outcome::Colleague(i, "a new person on the office line of one company client");
        }
        if best.name == Some(NameAgreement::Conflict) {
            return Outcome::Review("a known contact point, signed with another person's name");
        }
        // Clients sharing the contact point are told apart by the name:
        // one whose name agrees beats one whose name does not.
        let named = |s: &Scored| {
            matches!(
                s.name,
                Some(NameAgreement::Exact | NameAgreement::Compatible)
            )
        };
        // That only settles a point they share: a key the best candidate
        // does not carry says the appeal is (also) about another client.
        let shares_only_best_points = |s: &Scored| s.points.iter().all(|p| best.points.contains(p));
        let rival = scored.iter().any(|s| {
            s.client_id != best.client_id
                && s.identified
                && (!shares_only_best_points(s)
                    || (!inn_decides && s.score >= review && (named(s) || !named(best))))
        });
        if rival {
            return Outcome::Review("the appeal's contact points belong to different clients");
        }
        if best.identified && best.score >= auto {
            return Outcome::Link(i, "a contact point of one client agrees");
        }
        if best.identified {
            return Outcome::Review("a contact point agrees, but the score is below auto-link");
        }
        if inn_decides {
            return Outcome::Link(
                i,
                "a contact point of many clients, and the ИНН of this one",
            );
        }
        return Outcome::Review("the agreeing contact point is shared by many clients");
    }
    if let Some(outcome) = by_inn(scored) {
        return outcome;
    }
    // A corporate domain: a colleague of a known client, or that client's
    // person with a new mailbox.
    let with_domain: Vec<(usize, &Scored)> = scored
        .iter()
        .enumerate()
        .filter(|(_, s)| s.domain_shared_by.is_some())
        .collect();
    if let Some(&(i, s)) = with_domain.first() {
        match s.domain_shared_by {
            Some(1) if s.inn_conflict => {
                return Outcome::Review(
                    "the corporate domain is one client's, whose ИНН is another",
                )
            }
            Some(1) => {
                return Outcome::Link(
                    i,
                    "the appeal comes from the corporate domain of one client",
                )
            }
            Some(n) if n <= MAX_SHARED_DOMAIN => {
                return Outcome::Review("the corporate domain is shared by several clients")
            }
            _ => {}
        }
    }
    let best = &scored[0];
    if best.score >= review && !probe.name.is_empty() {
        return Outcome::Review("the name and company agree, but no contact point does");
    }
    if best.score >= review {
        return Outcome::Review("the company agrees, but no contact point does");
    }
    Outcome::New("no candidate has enough evidence")
}

/// The company's ИНН, when no contact point decided: the client carrying
/// it (a new person there unless the name agrees), or a review when
/// several do (branches of one taxpayer, a duplicate in the base).
fn by_inn(scored: &[Scored]) -> Option<Outcome> {
    let (i, s) = scored
        .iter()
        .enumerate()
        .find(|(_, s)| s.inn_shared_by.is_some())?;
    match s.inn_shared_by {
        Some(1) => Some(Outcome::Link(i, "the appeal names the ИНН of one client")),
        _ => Some(Outcome::Review("the ИНН is carried by several clients")),
    }
}

/// Above this many clients a domain is a hosting or a holding's mail; it
/// says nothing about which client.
const MAX_SHARED_DOMAIN: usize = 3;

fn positive_fields(s: &Scored) -> Vec<MatchField> {
    s.evidence
        .iter()
        .filter(|e| e.weight > 0.0)
        .map(|e| e.field)
        .collect()
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn score_client(
    client_id: i64,
    probe: &Probe,
    hits: &[KeyHits],
    persons: &[StoredPerson],
    settings: &MatchingSettings,
) -> Scored {
    let w: &MatchWeights = &settings.weights;
    let max_shared = settings.max_shared_clients;
    // Best agreeing key per field.
    let mut fields: BTreeMap<MatchField, Evidence> = BTreeMap::new();
    // Fewest clients sharing a name key with the appeal, for name frequency.
    let mut name_shared: Option<usize> = None;
    let mut points: Vec<(MatchField, String)> = Vec::new();
    for kh in hits.iter().filter(|k| !k.crowded) {
        let Some(hit) = kh.hits.iter().find(|h| h.client_id == client_id) else {
            continue;
        };
        let shared = kh.shared_by();
        let field = kh.key.field;
        if field.identifies() {
            points.push((field, kh.key.value.clone()));
        }
        if field == MatchField::Name {
            name_shared = Some(name_shared.map_or(shared, |n| n.min(shared)));
            continue;
        }
        let how = match field.contact_kind() {
            Some(kind) => probe
                .contact_keys
                .iter()
                .find(|k| k.kind == kind && k.value == kh.key.value)
                .map_or(MatchHow::Exact, |k| {
                    if k.raw == k.value {
                        MatchHow::Exact
                    } else {
                        MatchHow::Canonical
                    }
                }),
            None => MatchHow::Exact,
        };
        let ev = Evidence {
            client_id,
            person_id: hit.person_id,
            field,
            how,
            weight: round(w.key_weight(field, shared)),
            shared_by: u32::try_from(shared).unwrap_or(u32::MAX),
        };
        match fields.get(&field) {
            Some(old) if old.weight >= ev.weight => {}
            _ => {
                fields.insert(field, ev);
            }
        }
    }
    // The mailbox itself agreeing says more than its domain.
    if fields.contains_key(&MatchField::Email) {
        fields.remove(&MatchField::Domain);
    }
    let company_name = persons
        .iter()
        .find(|p| p.client_id == client_id)
        .and_then(|p| p.company.as_deref());
    // A company named in another script (`Novaalians` for «Новаальянс»)
    // has no key in common with it; compare the names themselves.
    if let (std::collections::btree_map::Entry::Vacant(slot), Some(theirs), Some(ours)) = (
        fields.entry(MatchField::Company),
        company_name,
        probe.company.as_deref(),
    ) {
        if same_company(theirs, ours) {
            slot.insert(Evidence {
                client_id,
                person_id: None,
                field: MatchField::Company,
                how: MatchHow::Translit,
                weight: round(w.company),
                shared_by: 1,
            });
        }
    }
    let company_agrees = fields.contains_key(&MatchField::Company);
    let office_line = company_name.is_some() && {
        let agreeing: Vec<&KeyHits> = hits
            .iter()
            .filter(|k| !k.crowded && k.key.field.identifies())
            .filter(|k| k.hits.iter().any(|h| h.client_id == client_id))
            .collect();
        !agreeing.is_empty()
            && agreeing.iter().all(|k| {
                let own = k.hits.iter().all(|h| h.client_id == client_id);
                let companys = k
                    .hits
                    .iter()
                    .any(|h| h.client_id == client_id && h.person_id.is_none());
                k.key.field == MatchField::Phone
                    && own
                    && (companys || (company_agrees && !is_mobile(&k.key.value)))
            })
    };
    let contact = fields.keys().any(|f| f.identifies());
    let identified = fields
        .values()
        .any(|e| e.field.identifies() && (e.shared_by as usize) <= max_shared);
    let domain_shared_by = fields
        .get(&MatchField::Domain)
        .map(|e| e.shared_by as usize);
    let inn_shared_by = fields.get(&MatchField::Inn).map(|e| e.shared_by as usize);
    let client_inn = persons
        .iter()
        .find(|p| p.client_id == client_id)
        .and_then(|p| p.inn.as_deref());
    let inn_conflict = inn_shared_by.is_none()
        && matches!((probe.inn.as_deref(), client_inn), (Some(ours), Some(theirs)) if ours != theirs);
    let point_person = fields
        .values()
        .filter(|e| e.field.identifies())
        .max_by(|a, b| a.weight.total_cmp(&b.weight))
        .and_then(|e| e.person_id);

    let mut evidence: Vec<Evidence> = fields.into_values().collect();
    if inn_conflict {
        evidence.push(Evidence {
            client_id,
            person_id: None,
            field: MatchField::Inn,
            how: MatchHow::Conflict,
            weight: round(-w.inn),
            shared_by: 1,
        });
    }
    let mut name = None;
    let mut person_id = point_person;
    let mut name_agrees = false;
    if !probe.name.is_empty() {
        let best = persons
            .iter()
            .filter(|p| p.client_id == client_id)
            .map(|p| (p, name_score(&probe.name, &PersonName::parse(&p.name), w)))
            .max_by(|(pa, a), (pb, b)| {
                a.weight
                    .total_cmp(&b.weight)
                    // Equal names: prefer the owner of the matched point.
                    .then(
                        (Some(pa.person_id) == point_person)
                            .cmp(&(Some(pb.person_id) == point_person)),
                    )
            });
        if let Some((p, s)) = best {
            name = Some(s.agreement);
            let mut weight = s.weight;
            if weight > 0.0 {
                if let Some(n) = name_shared {
                    weight -= (n.max(1) as f64).log2().min(weight / 2.0);
                }
            } else if !contact {
                // Without a shared contact point a different name is a
                // namesake or a colleague, not evidence against anybody.
                weight = 0.0;
            }
            let agrees = matches!(
                s.agreement,
                NameAgreement::Exact
                    | NameAgreement::Compatible
                    | NameAgreement::SurnameOnly
                    | NameAgreement::GivenOnly
            );
            if agrees {
                person_id = Some(p.person_id);
                name_agrees = matches!(
                    s.agreement,
                    NameAgreement::Exact | NameAgreement::Compatible
                );
            }
            if s.agreement != NameAgreement::Unknown {
                evidence.push(Evidence {
                    client_id,
                    person_id: Some(p.person_id),
                    field: MatchField::Name,
                    how: s.how,
                    weight: round(weight),
                    shared_by: name_shared.and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
                });
            }
        }
    }
    Scored {
        client_id,
        score: evidence.iter().map(|e| e.weight).sum(),
        evidence,
        contact,
        identified,
        domain_shared_by,
        inn_shared_by,
        inn_conflict,
        name,
        person_id,
        name_agrees,
        points,
        office_line,
    }
}

/// Two company names that are one name in two scripts, or written alike.
fn same_company(a: &str, b: &str) -> bool {
    match (company_key(a), company_key(b)) {
        (Some(x), Some(y)) => {
            x == y || {
                // Latin «ts» reads as «ц», Cyrillic «тс» as «тс»; in a
                // compound name («Стартсервис», Startservis) it is «тс».
                let fold = |k: &str| translit_key(k).replace('T', "ts");
                let (tx, ty) = (fold(&x), fold(&y));
                tx.chars().count() >= 4 && tx == ty
            }
        }
        _ => false,
    }
}

fn is_mobile(e164: &str) -> bool {
    Phone::parse(e164, Region::Ru).is_ok_and(|p| p.kind() == PhoneKind::Mobile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::appeal::ContactCard;
    use crate::contact::Region;
    use crate::dedup::{BlockingKey, JunkReason, KeyHit, MatchHow};

    fn probe(name: Option<&str>, phones: &[&str], emails: &[&str]) -> Probe {
        let card = ContactCard {
            name: name.map(str::to_string),
            phones: phones.iter().map(|s| s.to_string()).collect(),
            emails: emails.iter().map(|s| s.to_string()).collect(),
            ..ContactCard::default()
        };
        Probe::new(
            &card,
            &card.normalize(Region::Ru),
            &crate::dedup::JunkPatterns::default(),
        )
    }

    /// A probe with a company and an ИНН.
    fn probe_inn(
        name: Option<&str>,
        phones: &[&str],
        emails: &[&str],
        company: Option<&str>,
        inn: &str,
    ) -> Probe {
        let card = ContactCard {
            name: name.map(str::to_string),
            phones: phones.iter().map(|s| s.to_string()).collect(),
            emails: emails.iter().map(|s| s.to_string()).collect(),
            company: company.map(str::to_string),
            inn: Some(inn.to_string()),
            ..ContactCard::default()
        };
        Probe::new(
            &card,
            &card.normalize(Region::Ru),
            &crate::dedup::JunkPatterns::default(),
        )
    }

    /// The base: (client, person, person name, keys it carries).
    struct Base(Vec<(i64, i64, &'static str, Vec<BlockingKey>)>);

    fn key(field: MatchField, value: &str) -> BlockingKey {
        BlockingKey {
            field,
            value: value.into(),
        }
    }

    fn phone(v: &str) -> BlockingKey {
        key(MatchField::Phone, v)
    }

    impl Base {
        /// What storage would answer for the probe, with the fetch cap.
        fn run(&self, probe: &Probe, settings: &MatchingSettings) -> Decision {
            let mut hits: Vec<KeyHits> = probe
                .blocking_keys()
                .into_iter()
                .map(|k| {
                    let mut rows: Vec<KeyHit> = self
                        .0
                        .iter()
                        .filter(|(_, _, name, keys)| {
                            keys.contains(&k)
                                || (k.field == MatchField::Name
                                    && crate::contact::name_keys(&PersonName::parse(name))
                                        .contains(&k.value))
                        })
                        .filter(|(_, p, _, _)| *p > 0 || k.field != MatchField::Name)
                        .map(|(c, p, _, _)| KeyHit {
                            client_id: *c,
                            person_id: (*p > 0).then_some(*p),
                        })
                        .collect();
                    let crowded = rows.len() > settings.max_candidates_per_key;
                    if crowded {
                        rows.clear();
                    }
                    KeyHits {
                        key: k,
                        hits: rows,
                        crowded,
                    }
                })
                .collect();
            hits.retain(|h| !h.hits.is_empty() || h.crowded);
            let short = shortlist(&hits, settings);
            // A row with a negative person id is the company itself: its
            // name and the points that are the company's, not a person's.
            let company = |c: i64| {
                self.0
                    .iter()
                    .find(|(id, p, _, _)| *id == c && *p < 0)
                    .map(|(_, _, n, _)| n.to_string())
            };
            // The client's ИНН is the one its rows carry as a key.
            let inn = |c: i64| {
                self.0
                    .iter()
                    .filter(|(id, _, _, _)| *id == c)
                    .flat_map(|(_, _, _, keys)| keys)
                    .find(|k| k.field == MatchField::Inn)
                    .map(|k| k.value.clone())
            };
            let persons: Vec<StoredPerson> = self
                .0
                .iter()
                .filter(|(c, p, _, _)| short.contains(c) && *p > 0)
                .map(|(c, p, n, _)| StoredPerson {
                    client_id: *c,
                    person_id: *p,
                    name: n.to_string(),
                    company: company(*c),
                    inn: inn(*c),
                })
                .collect();
            decide(probe, &hits, &short, &persons, settings)
        }
    }

    fn settings() -> MatchingSettings {
        MatchingSettings::default()
    }

    #[test]
    fn nothing_shared_makes_a_new_client() {
        let base = Base(vec![(1, 10, "Иван Петров", vec![phone("+79120000001")])]);
        let d = base.run(&probe(None, &["+79990000000"], &[]), &settings());
        assert_eq!(d.kind, DecisionKind::NewClient);
        assert!(d.candidates.is_empty());
        assert_eq!(d.score, None);
    }

    #[test]
    fn a_unique_phone_links_and_a_diminutive_name_says_so() {
        let base = Base(vec![
            (1, 10, "Александр Петров", vec![phone("+79120000001")]),
            (2, 20, "Александр Петров", vec![phone("+79120000002")]),
        ]);
        let d = base.run(
            &probe(Some("Саша Петров"), &["8 912 000-00-01"], &[]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::ExistingClient, "{d:?}");
        assert_eq!(d.client_id, Some(1));
        assert_eq!(d.person_id, Some(10));
        assert_eq!(d.matched_on, vec![MatchField::Phone, MatchField::Name]);
        let name = d
            .evidence
            .iter()
            .find(|e| e.client_id == 1 && e.field == MatchField::Name)
            .unwrap();
        assert_eq!(name.how, MatchHow::Diminutive);
        let phone = d
            .evidence
            .iter()
            .find(|e| e.field == MatchField::Phone)
            .unwrap();
        assert_eq!(phone.how, MatchHow::Canonical);
        assert!(d.score.unwrap() >= settings().auto_link_threshold);
    }

    #[test]
    fn a_name_alone_never_links_however_heavy() {
        let base = Base(vec![(
            1,
            10,
            "Иванов Иван Иванович",
            vec![phone("+79120000001")],
        )]);
        let mut s = settings();
        s.weights.name_exact = 50.0;
        s.weights.name_compatible = 50.0;
        let d = base.run(
            &probe(Some("Иванов Иван Иванович"), &["+79990000000"], &[]),
            &s,
        );
        assert_ne!(d.kind, DecisionKind::ExistingClient, "{d:?}");
        let d = base.run(&probe(Some("Иванов Иван Иванович"), &[], &[]), &settings());
        assert_eq!(d.kind, DecisionKind::NewClient, "{d:?}");
    }

    #[test]
    fn a_known_phone_with_another_persons_name_goes_to_review() {
        let base = Base(vec![(1, 10, "Иван Петров", vec![phone("+79120000001")])]);
        let d = base.run(
            &probe(Some("Мария Сидорова"), &["+79120000001"], &[]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::Review, "{d:?}");
        assert_eq!(d.candidates, vec![1]);
        let name = d
            .evidence
            .iter()
            .find(|e| e.field == MatchField::Name)
            .unwrap();
        assert_eq!(name.how, MatchHow::Conflict);
        assert!(name.weight < 0.0);
        // Even when the phone alone is worth far more than the threshold.
        let mut s = settings();
        s.weights.phone = 60.0;
        let d = base.run(&probe(Some("Мария Сидорова"), &["+79120000001"], &[]), &s);
        assert_eq!(d.kind, DecisionKind::Review);
    }

    #[test]
    fn a_colleague_from_a_corporate_domain_is_a_new_person_of_that_client() {
        let base = Base(vec![(
            1,
            10,
            "Иван Петров",
            vec![
                key(MatchField::Email, "ivan@romashka.ru"),
                key(MatchField::Domain, "romashka.ru"),
            ],
        )]);
        let d = base.run(
            &probe(
                Some("Ольга Сидорова"),
                &["+79990000000"],
                &["olga@romashka.ru"],
            ),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::ExistingClient, "{d:?}");
        assert_eq!(d.client_id, Some(1));
        assert_eq!(d.person_id, None);
        assert_eq!(d.new_person.as_deref(), Some("Ольга Сидорова"));
        assert_eq!(d.matched_on, vec![MatchField::Domain]);
        // The same person with a new mailbox at the domain is that person.
        let d = base.run(
            &probe(Some("Петров Иван"), &[], &["i.petrov@romashka.ru"]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::ExistingClient);
        assert_eq!(d.person_id, Some(10));
        assert_eq!(d.new_person, None);
        // Free mail says nothing about the company.
        let d = base.run(
            &probe(Some("Ольга Сидорова"), &[], &["olga@mail.ru"]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::NewClient);
    }

    #[test]
    fn a_domain_of_several_clients_goes_to_review_and_of_many_is_ignored() {
        let domain = key(MatchField::Domain, "holding.ru");
        let two = Base(vec![
            (1, 10, "Иван Петров", vec![domain.clone()]),
            (2, 20, "Пётр Иванов", vec![domain.clone()]),
        ]);
        let p = probe(Some("Ольга Сидорова"), &[], &["olga@holding.ru"]);
        assert_eq!(two.run(&p, &settings()).kind, DecisionKind::Review);
        let many = Base(
            (1..=5)
                .map(|i| (i, i * 10, "Иван Петров", vec![domain.clone()]))
                .collect(),
        );
        assert_eq!(many.run(&p, &settings()).kind, DecisionKind::NewClient);
    }

    #[test]
    fn keys_of_different_clients_go_to_review() {
        let base = Base(vec![
            (7, 70, "Анна", vec![phone("+79110000001")]),
            (
                8,
                80,
                "Борис",
                vec![key(MatchField::Email, "boris@example.ru")],
            ),
        ]);
        let d = base.run(
            &probe(None, &["+79110000001"], &["boris@example.ru"]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::Review);
        assert_eq!(d.candidates, vec![7, 8]);
        assert_eq!(d.client_id, None);
        assert_eq!(d.matched_on, vec![MatchField::Phone, MatchField::Email]);
    }

    #[test]
    fn a_name_does_not_dismiss_another_clients_own_key() {
        let base = Base(vec![
            (1, 10, "Анна Кузнецова", vec![phone("+79123000001")]),
            (
                2,
                20,
                "ООО Ромашка",
                vec![key(MatchField::Email, "shared@example.ru")],
            ),
        ]);
        for name in ["Анна К.", "Мария Сидорова", "Кузнецова Анна"] {
            let d = base.run(
                &probe(Some(name), &["+79123000001"], &["shared@example.ru"]),
                &settings(),
            );
            assert_eq!(d.kind, DecisionKind::Review, "{name}: {d:?}");
        }
    }

    #[test]
    fn a_shared_office_phone_is_decided_by_the_name() {
        let office = phone("+74957001122");
        let base = Base(vec![
            (1, 10, "Иван Петров", vec![office.clone()]),
            (2, 20, "Мария Сидорова", vec![office.clone()]),
        ]);
        let d = base.run(
            &probe(Some("Мария Сидорова"), &["+74957001122"], &[]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::ExistingClient, "{d:?}");
        assert_eq!(d.client_id, Some(2));
        let phone_ev = d
            .evidence
            .iter()
            .find(|e| e.client_id == 2 && e.field == MatchField::Phone)
            .unwrap();
        assert_eq!(phone_ev.shared_by, 2);
        assert!(phone_ev.weight < settings().weights.phone);
        // Without a name nobody can tell.
        let d = base.run(&probe(None, &["+74957001122"], &[]), &settings());
        assert_eq!(d.kind, DecisionKind::Review);
        // A full name beats a given name alone (another surname).
        let base = Base(vec![
            (1, 10, "Мария Петрова", vec![office.clone()]),
            (2, 20, "Мария Сидорова", vec![office.clone()]),
        ]);
        let d = base.run(
            &probe(Some("Сидорова Мария"), &["+74957001122"], &[]),
            &settings(),
        );
        assert_eq!(d.client_id, Some(2), "{d:?}");
        // Two namesakes sharing it: an operator decides.
        let base = Base(vec![
            (1, 10, "Мария Сидорова", vec![office.clone()]),
            (2, 20, "Сидорова Мария Ивановна", vec![office.clone()]),
        ]);
        let d = base.run(
            &probe(Some("Мария Сидорова"), &["+74957001122"], &[]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::Review, "{d:?}");
    }

    #[test]
    fn a_new_person_on_a_companys_office_line_is_its_colleague() {
        let office = phone("+74954775139");
        // The line is the company's: known on several of its persons.
        let base = Base(vec![
            (1, -1, "ООО «Новаальянс»", vec![office.clone()]),
            (1, 10, "Иван Петров", vec![phone("+79161000001")]),
            (1, 11, "Мария Сидорова", vec![]),
        ]);
        for (name, company) in [
            ("Ольга Кузнецова", None),
            ("Ольга Кузнецова", Some("Novaalians")),
        ] {
            let mut p = probe(Some(name), &["8 495 477 51 39 до 20:00"], &[]);
            p.company = company.map(str::to_string);
            let d = base.run(&p, &settings());
            assert_eq!(d.kind, DecisionKind::ExistingClient, "{d:?}");
            assert_eq!(d.client_id, Some(1));
            assert_eq!(d.person_id, None);
            assert_eq!(d.new_person.as_deref(), Some("Ольга Кузнецова"));
        }
        // One of its persons calling from it is that person.
        let d = base.run(
            &probe(Some("Петров Иван"), &["+74954775139"], &[]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::ExistingClient, "{d:?}");
        assert_eq!(d.person_id, Some(10));
        assert_eq!(d.new_person, None);

        // A line on one person only: a colleague when the company is named
        // (in either script), otherwise an operator decides.
        let base = Base(vec![
            (1, -1, "ООО «Новаальянс»", vec![]),
            (1, 10, "Иван Петров", vec![office.clone()]),
        ]);
        let mut p = probe(Some("Ольга Кузнецова"), &["+74954775139"], &[]);
        p.company = Some("Novaalians".into());
        assert!(same_company("ООО «Стартсервис»", "OOO Startservis"));
        assert!(same_company("Атлантсервис", "Atlantservis"));
        assert!(!same_company("ООО «Вектор»", "Vostok"));
        let d = base.run(&p, &settings());
        assert_eq!(d.kind, DecisionKind::ExistingClient, "{d:?}");
        assert_eq!(d.new_person.as_deref(), Some("Ольга Кузнецова"));
        let company = d
            .evidence
            .iter()
            .find(|e| e.field == MatchField::Company)
            .unwrap();
        assert_eq!(company.how, MatchHow::Translit);
        let d = base.run(
            &probe(Some("Ольга Кузнецова"), &["+74954775139"], &[]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::Review, "{d:?}");
        // A person's mobile is not an office line, company named or not.
        let base = Base(vec![
            (1, -1, "ООО «Новаальянс»", vec![]),
            (1, 10, "Иван Петров", vec![phone("+79161000001")]),
        ]);
        let mut p = probe(Some("Ольга Кузнецова"), &["+79161000001"], &[]);
        p.company = Some("Новаальянс".into());
        assert_eq!(base.run(&p, &settings()).kind, DecisionKind::Review);
    }

    #[test]
    fn a_household_line_of_two_relatives_still_goes_to_review() {
        let home = phone("+78432110012");
        let base = Base(vec![
            (1, 10, "Петров Иван Сергеевич", vec![home.clone()]),
            (2, 20, "Петрова Мария Ивановна", vec![home.clone()]),
        ]);
        let d = base.run(
            &probe(Some("Ольга Петрова"), &["+78432110012"], &[]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::Review, "{d:?}");
        // One of them by name is still that one.
        let d = base.run(
            &probe(Some("Маша Петрова"), &["+78432110012"], &[]),
            &settings(),
        );
        assert_eq!(d.client_id, Some(2), "{d:?}");
    }

    #[test]
    fn junk_points_are_no_keys_and_the_decision_says_why() {
        let base = Base(vec![
            (
                1,
                10,
                "Иван Петров",
                vec![
                    key(MatchField::Email, "test@mail.ru"),
                    phone("+78005553535"),
                ],
            ),
            (
                2,
                20,
                "Пётр Иванов",
                vec![key(MatchField::Email, "test@mail.ru")],
            ),
        ]);
        let d = base.run(
            &probe(
                Some("Ольга Сидорова"),
                &["8-800-555-35-35"],
                &["test@mail.ru"],
            ),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::NewClient, "{d:?}");
        assert!(d.candidates.is_empty());
        let ignored: Vec<(MatchField, &str, JunkReason)> = d
            .ignored
            .iter()
            .map(|i| (i.field, i.value.as_str(), i.reason))
            .collect();
        assert_eq!(
            ignored,
            [
                (MatchField::Phone, "+78005553535", JunkReason::JunkPhone),
                (
                    MatchField::Email,
                    "test@mail.ru",
                    JunkReason::PlaceholderAddress
                ),
            ]
        );
        assert_eq!(d.ignored[0].pattern, "+7800*");
        // A robot's domain is no company either.
        let base = Base(vec![(
            1,
            10,
            "Иван Петров",
            vec![key(MatchField::Domain, "tilda.ws")],
        )]);
        let d = base.run(
            &probe(Some("Ольга Сидорова"), &[], &["no-reply@tilda.ws"]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::NewClient, "{d:?}");
        // With the patterns emptied the same values are keys again.
        let mut s = settings();
        s.junk.placeholder_local_parts.clear();
        let base = Base(vec![(
            1,
            10,
            "Ольга Сидорова",
            vec![key(MatchField::Email, "test@mail.ru")],
        )]);
        let card = ContactCard {
            name: Some("Ольга Сидорова".into()),
            emails: vec!["test@mail.ru".into()],
            ..ContactCard::default()
        };
        let p = Probe::new(&card, &card.normalize(Region::Ru), &s.junk);
        assert_eq!(base.run(&p, &s).kind, DecisionKind::ExistingClient);
    }

    #[test]
    fn a_key_of_many_clients_never_links() {
        let office = phone("+74957001122");
        let base = Base(
            (1..=4)
                .map(|i| {
                    let name = [
                        "Иван Петров",
                        "Мария Сидорова",
                        "Олег Кузнецов",
                        "Анна Смирнова",
                    ][i as usize - 1];
                    (i, i * 10, name, vec![office.clone()])
                })
                .collect(),
        );
        let d = base.run(
            &probe(Some("Мария Сидорова"), &["+74957001122"], &[]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::Review, "{d:?}");
        assert!(d.score.unwrap() >= settings().auto_link_threshold, "{d:?}");
    }

    #[test]
    fn an_email_on_500_clients_proposes_nobody() {
        let info = key(MatchField::Email, "info@agency.ru");
        let base = Base(
            (1..=500)
                .map(|i| (i, i * 10, "Иван Петров", vec![info.clone()]))
                .collect(),
        );
        let d = base.run(
            &probe(Some("Иван Петров"), &[], &["info@agency.ru"]),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::NewClient, "{d:?}");
        assert!(d.candidates.is_empty());
        assert!(d.evidence.is_empty());
    }

    #[test]
    fn a_huge_name_and_fifty_phones_stay_bounded() {
        let name = "Иванов ".repeat(1500);
        let phones: Vec<String> = (0..50).map(|i| format!("+7912000{i:04}")).collect();
        let phone_refs: Vec<&str> = phones.iter().map(String::as_str).collect();
        let p = probe(Some(&name), &phone_refs, &[]);
        assert!(p.blocking_keys().len() <= crate::dedup::keys::MAX_PROBE_KEYS);
        let base = Base(vec![(1, 10, "Иванов Иван", vec![phone("+79120000003")])]);
        let d = base.run(&p, &settings());
        // «Иванов Иванов Иванов» is not Иван Иванов: the phone agrees, the
        // name does not, an operator looks.
        assert_eq!(d.kind, DecisionKind::Review, "{d:?}");
        assert_eq!(d.matched_on, vec![MatchField::Phone]);
        assert!(d.evidence.len() < 10);
    }

    #[test]
    fn a_typo_or_transliteration_with_a_known_email_links() {
        let base = Base(vec![(
            1,
            10,
            "Кузнецов Сергей",
            vec![key(MatchField::Email, "kuznetsov@gmail.com")],
        )]);
        for name in ["Sergey Kuznetsov", "Сергей Кузнецв"] {
            let d = base.run(
                &probe(Some(name), &[], &["Kuz.Netsov+shop@gmail.com"]),
                &settings(),
            );
            assert_eq!(d.kind, DecisionKind::ExistingClient, "{name}: {d:?}");
        }
    }

    const ALPHA: &str = "7707083893";
    const BETA: &str = "7736207543";

    fn inn(v: &str) -> BlockingKey {
        key(MatchField::Inn, v)
    }

    /// Two companies: Альфа (ИНН, a person with a phone, a domain) and
    /// Бета (another ИНН, a person at another domain).
    fn two_companies() -> Base {
        Base(vec![
            (1, -1, "ООО Альфа", vec![inn(ALPHA)]),
            (
                1,
                10,
                "Иван Петров",
                vec![phone("+79120000001"), key(MatchField::Domain, "alfa.ru")],
            ),
            (2, -1, "ООО Бета", vec![inn(BETA)]),
            (
                2,
                20,
                "Олег Смирнов",
                vec![phone("+79120000002"), key(MatchField::Domain, "beta.ru")],
            ),
        ])
    }

    #[test]
    fn a_new_person_with_a_known_inn_is_a_contact_person_of_that_company() {
        let d = two_companies().run(
            &probe_inn(Some("Мария Сидорова"), &["+79990000000"], &[], None, ALPHA),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::ExistingClient, "{d:?}");
        assert_eq!(d.client_id, Some(1));
        assert_eq!(d.person_id, None);
        assert_eq!(d.new_person.as_deref(), Some("Мария Сидорова"));
        assert_eq!(d.matched_on, vec![MatchField::Inn]);
        let e = d
            .evidence
            .iter()
            .find(|e| e.field == MatchField::Inn)
            .unwrap();
        assert_eq!((e.how, e.shared_by), (MatchHow::Exact, 1));
        // A known person's name at that company is that person.
        let d = two_companies().run(
            &probe_inn(Some("Петров Иван"), &[], &[], None, "7707 083 893"),
            &settings(),
        );
        assert_eq!((d.client_id, d.person_id), (Some(1), Some(10)), "{d:?}");
        // A wrong check digit is no key.
        let d = two_companies().run(
            &probe_inn(Some("Мария Сидорова"), &[], &[], None, "7707083894"),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::NewClient, "{d:?}");
    }

    #[test]
    fn the_inn_wins_over_another_clients_domain_and_company_name() {
        let d = two_companies().run(
            &probe_inn(
                Some("Мария Сидорова"),
                &[],
                &["maria@beta.ru"],
                Some("ООО Бета"),
                ALPHA,
            ),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::ExistingClient, "{d:?}");
        assert_eq!(d.client_id, Some(1));
        assert!(d.evidence.iter().any(|e| e.client_id == 2
            && e.field == MatchField::Inn
            && e.how == MatchHow::Conflict));
    }

    #[test]
    fn a_known_person_with_a_conflicting_inn_goes_to_review() {
        // Иван's phone, with Бета's ИНН.
        let d = two_companies().run(
            &probe_inn(Some("Иван Петров"), &["+79120000001"], &[], None, BETA),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::Review, "{d:?}");
        assert_eq!(d.candidates, vec![1, 2]);
        // Иван's phone with an ИНН nobody carries, while Альфа has its own.
        let other = "7702070139";
        let d = two_companies().run(
            &probe_inn(Some("Иван Петров"), &["+79120000001"], &[], None, other),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::Review, "{d:?}");
        let e = d
            .evidence
            .iter()
            .find(|e| e.field == MatchField::Inn)
            .unwrap();
        assert_eq!((e.client_id, e.how), (1, MatchHow::Conflict));
        assert!(e.weight < 0.0);
        // The same with Альфа's own ИНН links as before.
        let d = two_companies().run(
            &probe_inn(Some("Иван Петров"), &["+79120000001"], &[], None, ALPHA),
            &settings(),
        );
        assert_eq!(
            (d.kind, d.client_id),
            (DecisionKind::ExistingClient, Some(1))
        );
        assert_eq!(d.person_id, Some(10));
        // A client without an ИНН has nothing to conflict with.
        let base = Base(vec![(1, 10, "Иван Петров", vec![phone("+79120000001")])]);
        let d = base.run(
            &probe_inn(Some("Иван Петров"), &["+79120000001"], &[], None, BETA),
            &settings(),
        );
        assert_eq!(
            (d.kind, d.client_id),
            (DecisionKind::ExistingClient, Some(1))
        );
    }

    #[test]
    fn a_domain_of_a_client_with_another_inn_goes_to_review() {
        let d = two_companies().run(
            &probe_inn(
                Some("Мария Сидорова"),
                &[],
                &["maria@alfa.ru"],
                None,
                "7702070139",
            ),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::Review, "{d:?}");
        assert_eq!(d.candidates, vec![1]);
    }

    #[test]
    fn a_shared_phone_is_settled_by_the_inn() {
        let office = phone("+74957001122");
        let base = Base(vec![
            (1, -1, "ООО Альфа", vec![inn(ALPHA)]),
            (1, 10, "Иван Петров", vec![office.clone()]),
            (2, 20, "Иван Петров", vec![office.clone()]),
        ]);
        let p = probe(Some("Иван Петров"), &["+74957001122"], &[]);
        assert_eq!(base.run(&p, &settings()).kind, DecisionKind::Review);
        let d = base.run(
            &probe_inn(Some("Иван Петров"), &["+74957001122"], &[], None, ALPHA),
            &settings(),
        );
        assert_eq!(
            (d.kind, d.client_id),
            (DecisionKind::ExistingClient, Some(1)),
            "{d:?}"
        );
        // A point of many clients: the one with the ИНН.
        let crowd = Base(
            std::iter::once((1, -1, "ООО Альфа", vec![inn(ALPHA)]))
                .chain((1..=5).map(|i| (i, i * 10, "Иван Петров", vec![office.clone()])))
                .collect(),
        );
        let d = crowd.run(
            &probe_inn(Some("Иван Петров"), &["+74957001122"], &[], None, ALPHA),
            &settings(),
        );
        assert_eq!(
            (d.kind, d.client_id),
            (DecisionKind::ExistingClient, Some(1)),
            "{d:?}"
        );
    }

    #[test]
    fn an_inn_of_two_clients_goes_to_review() {
        let base = Base(vec![
            (1, 10, "Иван Петров", vec![inn(ALPHA)]),
            (2, 20, "Олег Смирнов", vec![inn(ALPHA)]),
        ]);
        let d = base.run(
            &probe_inn(Some("Мария Сидорова"), &[], &[], None, ALPHA),
            &settings(),
        );
        assert_eq!(d.kind, DecisionKind::Review, "{d:?}");
        assert_eq!(d.candidates, vec![1, 2]);
    }
}
