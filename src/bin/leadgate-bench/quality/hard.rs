//! The hard set (`leadgate-bench match --set hard`): the base of the basic
//! set with what real bases carry on top (VK ids, household lines of
//! relatives, office lines known on several persons of a company, junk
//! values typed into past forms), and appeals that each combine two or three
//! variations, plus the traps of real inbound traffic, in families.
//!
//! Written from how leads reach a Russian sales department: numbers with a
//! note about when to call, `+8` and a doubled `+7 8`, two numbers in one
//! field; addresses with spaces around the '@', a label, a display name, a
//! Cyrillic letter in a Latin login; VK profiles pasted as links; form
//! robots' addresses and toll-free numbers; colleagues calling from the
//! office; relatives on the home line; a mobile number that now belongs to
//! somebody else.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use leadgate::appeal::{ContactCard, TelegramContact, VkContact};
use leadgate::client::ClientKind;

use super::{first, phone_format, translit, typo, Appeal, Client, Gen, Person, Truth, GIVEN};

/// Families of the hard set: (name, weight, whether the data decides it).
pub(super) const FAMILIES: &[(&str, u32, bool)] = &[
    ("known_messy_phone", 14, true),
    ("known_messy_email", 14, true),
    ("known_vk_telegram", 6, true),
    ("reassigned_number", 5, false),
    ("household_relative", 5, true),
    ("household_new_relative", 3, false),
    ("namesake_new_contacts", 8, true),
    ("agency_mailbox", 2, false),
    ("agency_mailbox_with_phone", 3, true),
    ("junk_contact_new", 7, true),
    ("junk_contact_known", 4, true),
    ("colleague_office_line", 6, true),
    ("office_line_unnamed", 2, false),
    ("colleague_domain", 4, true),
    ("new_person", 8, true),
    ("repeat_new", 9, true),
    ("only_name", 2, false),
];

/// Junk people type into forms, and form robots send from.
pub(super) const JUNK_EMAILS: &[&str] = &[
    "test@mail.ru",
    "test@test.ru",
    "a@a.ru",
    "123@mail.ru",
    "qwerty@yandex.ru",
    "noreply@tilda.ws",
    "no-reply@tilda.ws",
    "asd@asd.ru",
    "info@mail.ru",
    "net@mail.ru",
];
const JUNK_PHONES: &[&str] = &[
    "8 800 555-35-35",
    "8-800-100-00-00",
    "+7 (999) 123-45-67",
    "+7 (900) 000-00-00",
    "8 (495) 123-45-67",
    "8 809 505 12 12",
    "+7 (912) 111-11-11",
];
/// City codes of home and office lines outside Moscow.
const CITY_CODES: &[&str] = &[
    "812", "843", "383", "343", "861", "846", "831", "473", "351",
];

/// A new person already seen in the stream, who may write again.
#[derive(Debug, Clone)]
pub(super) struct Fresh {
    person: Person,
    phone: String,
    email: Option<String>,
}

/// Extra state of the hard generator.
#[derive(Debug, Default)]
pub(super) struct HardState {
    fresh: Vec<Fresh>,
    /// Pairs of base clients (relatives) sharing a home line.
    households: Vec<(usize, usize, String)>,
    /// Company clients whose office line is the company's (several persons).
    office_shared: Vec<usize>,
    /// Company clients whose office line is on one person.
    office_single: Vec<usize>,
}

impl Gen {
    fn landline(&mut self) -> String {
        let code = CITY_CODES[self.rng.gen_range(0..CITY_CODES.len())];
        loop {
            let n: u64 = self.rng.gen_range(2_000_000..8_999_999);
            let p = format!("+7{code}{n}");
            if self.used_phones.insert(p.clone()) {
                return p;
            }
        }
    }

    /// The basic base plus what real bases carry.
    pub(super) fn hard_base(&mut self, n: usize, st: &mut HardState) -> Vec<Client> {
        let mut clients = self.base(n);
        let mut next = clients.len();
        let private: Vec<usize> = (0..clients.len())
            .filter(|&i| clients[i].kind == ClientKind::Person)
            .collect();
        // VK profiles of private clients (from a VK community's messages).
        for &i in &private {
            if self.rng.gen_bool(0.15) {
                clients[i].persons[0].vk = Some(self.rng.gen_range(100_000_000..900_000_000));
            }
        }
        // Relatives: a second client with the family's surname on one home line.
        for &i in &private {
            if !self.rng.gen_bool(0.04) {
                continue;
            }
            let home = self.landline();
            clients[i].persons[0].phones.push(home.clone());
            let mut relative = self.person();
            relative.surname = clients[i].persons[0].surname.clone();
            while relative.given == clients[i].persons[0].given {
                relative.given = self.rng.gen_range(0..GIVEN.len());
            }
            relative.female = GIVEN[relative.given].1;
            relative.phones.push(self.mobile());
            relative.phones.push(home.clone());
            let j = next;
            next += 1;
            clients.push(Client {
                external_id: format!("h-{j}"),
                kind: ClientKind::Person,
                name: relative.stored_name(),
                persons: vec![relative],
                domain: None,
                crowded_email: None,
            });
            st.households.push((i, j, home));
        }
        // Office lines: known on several persons of the company, or on one.
        for (i, c) in clients.iter_mut().enumerate() {
            if c.kind != ClientKind::Company {
                continue;
            }
            let office = c.persons[0].phones.get(1).cloned();
            let Some(office) = office else { continue };
            if c.persons.len() > 1 && self.rng.gen_bool(0.6) {
                c.persons[1].phones.push(office);
                st.office_shared.push(i);
            } else {
                st.office_single.push(i);
            }
        }
        // Junk typed into past forms, on a few clients each.
        for &i in &private {
            if self.rng.gen_bool(0.015) {
                if self.rng.gen_bool(0.6) {
                    let e = JUNK_EMAILS[self.rng.gen_range(0..JUNK_EMAILS.len())];
                    clients[i].persons[0].emails.push(e.to_string());
                } else {
                    let p = JUNK_PHONES[self.rng.gen_range(0..JUNK_PHONES.len())];
                    clients[i].persons[0].phones.push(p.to_string());
                }
            }
        }
        clients
    }

    /// A phone as people type it into a form or a letter.
    fn messy_phone(&mut self, e164: &str) -> String {
        let d = e164.trim_start_matches("+7").to_string();
        let plain = phone_format(&mut self.rng, e164);
        if d.len() != 10 {
            return plain;
        }
        let (a, b, c, e) = (&d[0..3], &d[3..6], &d[6..8], &d[8..10]);
        match self.rng.gen_range(0..10) {
            0 => format!("{plain} до 20:00"),
            1 => format!("моб. {plain}"),
            2 => format!("{plain} (звонить после 18:00)"),
            3 if d.starts_with('9') => format!("+8 {a} {b} {c} {e}"),
            4 => format!("+7 8{a} {b}-{c}-{e}"),
            5 => {
                let other = self.mobile();
                let other = phone_format(&mut self.rng, &other);
                match self.rng.gen_range(0..3) {
                    0 => format!("{plain}, {other}"),
                    1 => format!("{other}; {plain}"),
                    _ => format!("{plain} или {other}"),
                }
            }
            6 => format!("тел.: {plain}, спросить менеджера"),
            7 => format!("+7 +7 {a} {b} {c}{e}"),
            _ => plain,
        }
    }

    /// An address as people type it; sometimes two slips at once.
    fn messy_email(&mut self, email: &str, display: &str) -> String {
        let mut e = email.to_string();
        if self.rng.gen_bool(0.3) {
            e = lookalike(&mut self.rng, &e);
        }
        let Some((l, d)) = e
            .split_once('@')
            .map(|(l, d)| (l.to_string(), d.to_string()))
        else {
            return e;
        };
        let l = if d == "gmail.com" && self.rng.gen_bool(0.4) {
            format!("{l}+zakaz")
        } else {
            l
        };
        match self.rng.gen_range(0..13) {
            0 => format!("{l} @{d}"),
            1 => format!("{l}@ {d}"),
            2 => format!("{l} @ {d}"),
            3 => format!("{l}@{d},"),
            4 => format!("{l}@{d} ."),
            5 => format!("<{}@{}>", super::capitalise(&l), super::capitalise(&d)),
            6 => format!("{display} <{l}@{d}>"),
            7 => format!("e-mail: {l}@{d}"),
            8 => format!("MAILTO:{l}@{d}"),
            9 => format!("почта: {l} @ {d}"),
            10 => {
                let other = format!("{}@mail.ru", self.rng.gen_range(100_000..999_999));
                format!("{l}@{d}, {other}")
            }
            11 => super::email_variant(&mut self.rng, &format!("{l}@{d}")),
            _ => format!("{l}@{d}"),
        }
    }

    /// The name as it comes: full, short, diminutive, Latin, a typo, the
    /// given name alone, initials.
    fn name_variant(&mut self, p: &Person) -> Option<String> {
        let given = p.given_name();
        let surname = p.surname_text();
        Some(match self.rng.gen_range(0..9) {
            0 => p.stored_name(),
            1 => format!("{given} {surname}"),
            2 => {
                let short = GIVEN[p.given].2;
                match short.choose(&mut self.rng) {
                    Some(s) => format!("{s} {surname}"),
                    None => format!("{surname} {given}"),
                }
            }
            3 => {
                let latin = GIVEN[p.given].3;
                let g = latin.choose(&mut self.rng).copied().unwrap_or("Ivan");
                format!("{g} {}", translit(&surname, self.rng.gen_bool(0.5)))
            }
            4 if surname.chars().count() >= 6 => {
                format!("{given} {}", typo(&mut self.rng, &surname))
            }
            5 => given.to_string(),
            6 => match &p.patronymic {
                Some(pat) => format!("{surname} {}.{}.", first(given), first(pat)),
                None => format!("{surname} {}.", first(given)),
            },
            7 => return None,
            _ => format!("{surname} {given}"),
        })
    }

    /// A name that tells a person from the relatives they share a line with.
    fn identifying_name(&mut self, p: &Person) -> String {
        let given = p.given_name();
        let surname = p.surname_text();
        match self.rng.gen_range(0..4) {
            0 => p.stored_name(),
            1 => format!("{given} {surname}"),
            2 => match GIVEN[p.given].2.choose(&mut self.rng) {
                Some(s) => format!("{s} {surname}"),
                None => format!("{surname} {given}"),
            },
            _ => format!("{surname} {given}"),
        }
    }

    fn vk_address(&mut self, id: i64) -> VkContact {
        let screen = match self.rng.gen_range(0..5) {
            0 => format!("id{id}"),
            1 => format!("vk.com/id{id}"),
            2 => format!("https://vk.com/id{id}"),
            3 => format!("@id{id}"),
            _ => {
                return VkContact {
                    id: Some(id),
                    screen_name: None,
                }
            }
        };
        VkContact {
            id: None,
            screen_name: Some(screen),
        }
    }

    fn telegram_address(&mut self, name: &str) -> String {
        match self.rng.gen_range(0..4) {
            0 => format!("t.me/{name}"),
            1 => format!("https://t.me/{name}"),
            2 => format!("@{name}"),
            _ => name.to_string(),
        }
    }

    fn junk_email(&mut self) -> String {
        JUNK_EMAILS[self.rng.gen_range(0..JUNK_EMAILS.len())].to_string()
    }

    fn junk_phone(&mut self) -> String {
        JUNK_PHONES[self.rng.gen_range(0..JUNK_PHONES.len())].to_string()
    }

    /// A new person with a mobile and often a free-mail box, remembered so
    /// that they can write again.
    fn fresh(&mut self, st: &mut HardState, person: Person) -> (usize, Fresh) {
        let phone = self.mobile();
        let email = self.rng.gen_bool(0.5).then(|| {
            let login = self.login(&person);
            let domain = super::FREE_MAIL[self.rng.gen_range(0..super::FREE_MAIL.len())];
            format!("{login}@{domain}")
        });
        let f = Fresh {
            person,
            phone,
            email,
        };
        st.fresh.push(f.clone());
        (st.fresh.len() - 1, f)
    }

    pub(super) fn hard_appeal(&mut self, base: &[Client], st: &mut HardState) -> Appeal {
        let total: u32 = FAMILIES.iter().map(|v| v.1).sum();
        let mut roll = self.rng.gen_range(0..total);
        let &(mut family, _, mut decidable) = FAMILIES
            .iter()
            .find(|v| {
                if roll < v.1 {
                    true
                } else {
                    roll -= v.1;
                    false
                }
            })
            .unwrap_or(&FAMILIES[0]);
        let empty = |family: &str| match family {
            "household_relative" | "household_new_relative" => st.households.is_empty(),
            "colleague_office_line" => st.office_shared.is_empty() && st.office_single.is_empty(),
            "office_line_unnamed" => st.office_single.is_empty(),
            "repeat_new" => st.fresh.is_empty(),
            _ => false,
        };
        if empty(family) {
            (family, decidable) = ("new_person", true);
        }
        let mut card = ContactCard::default();
        let truth;
        match family {
            "known_messy_phone" => {
                let i = self.pick_client(base, |_| true);
                let k = self.rng.gen_range(0..base[i].persons.len());
                let p = base[i].persons[k].clone();
                card.name = self.name_variant(&p);
                card.phones = vec![self.messy_phone(&p.phones[0])];
                if let Some(e) = p.own_email().filter(|_| self.rng.gen_bool(0.3)) {
                    let display = p.given_name().to_string();
                    card.emails = vec![self.messy_email(&e, &display)];
                }
                if base[i].kind == ClientKind::Company && self.rng.gen_bool(0.3) {
                    card.company = Some(base[i].name.clone());
                }
                truth = Truth::Client(i);
            }
            "known_messy_email" => {
                let i = self.pick_client(base, |c| c.persons[0].own_email().is_some());
                let p = base[i].persons[0].clone();
                card.name = self.name_variant(&p);
                let e = p.own_email().unwrap_or_default();
                let display = card.name.clone().unwrap_or_default();
                card.emails = vec![self.messy_email(&e, &display)];
                if self.rng.gen_bool(0.3) {
                    card.phones = vec![self.messy_phone(&p.phones[0])];
                }
                truth = Truth::Client(i);
            }
            "known_vk_telegram" => {
                let i = self.pick_client(base, |c| {
                    c.persons[0].vk.is_some() || c.persons[0].telegram.is_some()
                });
                let p = base[i].persons[0].clone();
                card.name = self.name_variant(&p);
                match (p.vk, &p.telegram) {
                    (Some(id), Some(_)) if self.rng.gen_bool(0.5) => {
                        card.vk = Some(self.vk_address(id))
                    }
                    (Some(id), None) => card.vk = Some(self.vk_address(id)),
                    (_, Some(t)) => {
                        let t = self.telegram_address(t);
                        if self.rng.gen_bool(0.2) {
                            // Pasted into the form's e-mail field.
                            card.emails = vec![format!(
                                "https://t.me/{}",
                                t.trim_start_matches("https://t.me/")
                                    .trim_start_matches("t.me/")
                                    .trim_start_matches('@')
                            )];
                        } else {
                            card.telegram = Some(TelegramContact {
                                id: None,
                                username: Some(t),
                            });
                        }
                    }
                    (None, None) => {}
                }
                if self.rng.gen_bool(0.3) {
                    card.phones = vec![self.messy_phone(&p.phones[0])];
                }
                truth = Truth::Client(i);
            }
            "reassigned_number" => {
                // The operator gave the number to somebody else.
                let i = self.pick_client(base, |c| c.kind == ClientKind::Person);
                let mut other = self.person();
                while other.given == base[i].persons[0].given
                    || other.surname == base[i].persons[0].surname
                {
                    other = self.person();
                }
                card.name = Some(self.identifying_name(&other));
                card.phones = vec![self.messy_phone(&base[i].persons[0].phones[0])];
                if self.rng.gen_bool(0.4) {
                    let login = self.login(&other);
                    let display = card.name.clone().unwrap_or_default();
                    card.emails = vec![self.messy_email(&format!("{login}@mail.ru"), &display)];
                }
                // Ambiguous once, ambiguous again: not one of the repeaters.
                truth = Truth::New;
            }
            "household_relative" => {
                let &(a, b, ref home) = st
                    .households
                    .choose(&mut self.rng)
                    .unwrap_or(&st.households[0]);
                let home = home.clone();
                let i = if self.rng.gen_bool(0.5) { a } else { b };
                let p = base[i].persons[0].clone();
                card.name = Some(self.identifying_name(&p));
                card.phones = vec![self.messy_phone(&home)];
                if self.rng.gen_bool(0.3) {
                    card.phones.push(phone_format(&mut self.rng, &p.phones[0]));
                }
                truth = Truth::Client(i);
            }
            "household_new_relative" => {
                let &(a, b, ref home) = st
                    .households
                    .choose(&mut self.rng)
                    .unwrap_or(&st.households[0]);
                let home = home.clone();
                let mut p = self.person();
                p.surname = base[a].persons[0].surname.clone();
                while p.given == base[a].persons[0].given || p.given == base[b].persons[0].given {
                    p.given = self.rng.gen_range(0..GIVEN.len());
                }
                p.female = GIVEN[p.given].1;
                card.name = Some(self.identifying_name(&p));
                card.phones = vec![self.messy_phone(&home)];
                truth = Truth::New;
            }
            "namesake_new_contacts" => {
                let i = self.pick_client(base, |c| c.kind == ClientKind::Person);
                let p = base[i].persons[0].clone();
                let mut namesake = p.clone();
                namesake.phones.clear();
                namesake.emails.clear();
                namesake.telegram = None;
                namesake.vk = None;
                card.name = Some(match self.rng.gen_range(0..3) {
                    0 => p.stored_name(),
                    1 => format!("{} {}", p.given_name(), p.surname_text()),
                    _ => format!("{} {}", p.surname_text(), p.given_name()),
                });
                let (k, f) = self.fresh(st, namesake);
                card.phones = vec![self.messy_phone(&f.phone)];
                if let Some(e) = &f.email {
                    let display = card.name.clone().unwrap_or_default();
                    card.emails = vec![self.messy_email(e, &display)];
                }
                truth = Truth::Fresh(k);
            }
            "agency_mailbox" | "agency_mailbox_with_phone" => {
                let i = self.pick_client(base, |c| c.crowded_email.is_some());
                let p = base[i].persons[0].clone();
                card.name = Some(self.identifying_name(&p));
                let mailbox = base[i].crowded_email.clone().unwrap_or_default();
                let display = card.name.clone().unwrap_or_default();
                card.emails = vec![self.messy_email(&mailbox, &display)];
                if family == "agency_mailbox_with_phone" {
                    card.phones = vec![self.messy_phone(&p.phones[0])];
                }
                truth = Truth::Client(i);
            }
            "junk_contact_new" => {
                let p = self.person();
                card.name = Some(self.signed_name(&p));
                match self.rng.gen_range(0..3) {
                    0 => card.emails = vec![self.junk_email()],
                    1 => card.phones = vec![self.junk_phone()],
                    _ => {
                        card.emails = vec![self.junk_email()];
                        card.phones = vec![self.junk_phone()];
                    }
                }
                if self.rng.gen_bool(0.5) {
                    let (k, f) = self.fresh(st, p);
                    let own = self.messy_phone(&f.phone);
                    card.phones.push(own);
                    truth = Truth::Fresh(k);
                } else {
                    // Nothing of their own to be found by again.
                    truth = Truth::New;
                }
            }
            "junk_contact_known" => {
                let i = self.pick_client(base, |c| c.kind == ClientKind::Person);
                let p = base[i].persons[0].clone();
                card.name = self.name_variant(&p);
                match p.own_email() {
                    Some(e) if self.rng.gen_bool(0.5) => {
                        let display = p.given_name().to_string();
                        card.emails = vec![self.messy_email(&e, &display)];
                        card.phones = vec![self.junk_phone()];
                    }
                    _ => {
                        card.phones = vec![self.messy_phone(&p.phones[0])];
                        card.emails = vec![self.junk_email()];
                    }
                }
                truth = Truth::Client(i);
            }
            "colleague_office_line" => {
                let shared = !st.office_shared.is_empty()
                    && (st.office_single.is_empty() || self.rng.gen_bool(0.6));
                let i = if shared {
                    *st.office_shared
                        .choose(&mut self.rng)
                        .unwrap_or(&st.office_shared[0])
                } else {
                    *st.office_single
                        .choose(&mut self.rng)
                        .unwrap_or(&st.office_single[0])
                };
                let office = base[i].persons[0].phones[1].clone();
                let mut p = self.person();
                while base[i].persons.iter().any(|q| q.given == p.given) {
                    p = self.person();
                }
                card.name = Some(self.identifying_name(&p));
                card.phones = vec![self.messy_phone(&office)];
                // On a one-person line the company has to be named.
                if !shared || self.rng.gen_bool(0.5) {
                    card.company = Some(company_as_written(&mut self.rng, &base[i].name));
                }
                if self.rng.gen_bool(0.3) {
                    let m = self.mobile();
                    card.phones.push(phone_format(&mut self.rng, &m));
                }
                truth = Truth::Client(i);
            }
            "office_line_unnamed" => {
                let i = *st
                    .office_single
                    .choose(&mut self.rng)
                    .unwrap_or(&st.office_single[0]);
                let office = base[i].persons[0].phones[1].clone();
                let mut p = self.person();
                while base[i].persons.iter().any(|q| q.given == p.given) {
                    p = self.person();
                }
                card.name = Some(self.identifying_name(&p));
                card.phones = vec![self.messy_phone(&office)];
                truth = Truth::Client(i);
            }
            "colleague_domain" => {
                let i = self.pick_client(base, |c| c.domain.is_some());
                let domain = base[i].domain.clone().unwrap_or_default();
                let p = self.person();
                let login = self.login(&p);
                card.name = Some(self.identifying_name(&p));
                let display = card.name.clone().unwrap_or_default();
                card.emails = vec![self.messy_email(&format!("{login}@{domain}"), &display)];
                if self.rng.gen_bool(0.4) {
                    let m = self.mobile();
                    card.phones = vec![self.messy_phone(&m)];
                }
                if self.rng.gen_bool(0.3) {
                    card.company = Some(company_as_written(&mut self.rng, &base[i].name));
                }
                truth = Truth::Client(i);
            }
            "repeat_new" => {
                let k = self.rng.gen_range(0..st.fresh.len());
                let f = st.fresh[k].clone();
                card.name = self.name_variant(&f.person);
                match &f.email {
                    Some(e) if self.rng.gen_bool(0.4) => {
                        let display = f.person.given_name().to_string();
                        card.emails = vec![self.messy_email(e, &display)];
                        if self.rng.gen_bool(0.5) {
                            card.phones = vec![self.messy_phone(&f.phone)];
                        }
                    }
                    _ => card.phones = vec![self.messy_phone(&f.phone)],
                }
                truth = Truth::Fresh(k);
            }
            "only_name" => {
                let i = self.pick_client(base, |_| true);
                card.name = Some(base[i].persons[0].stored_name());
                truth = Truth::Client(i);
            }
            _ => {
                // new_person
                let p = self.person();
                card.name = self
                    .name_variant(&p)
                    .or_else(|| Some(p.given_name().to_string()));
                let (k, f) = self.fresh(st, p);
                card.phones = vec![self.messy_phone(&f.phone)];
                if let Some(e) = &f.email {
                    let display = card.name.clone().unwrap_or_default();
                    card.emails = vec![self.messy_email(e, &display)];
                }
                truth = Truth::Fresh(k);
            }
        }
        Appeal {
            variation: family,
            decidable,
            truth,
            card,
        }
    }
}

/// A company named as a caller would: as registered, without the legal
/// form, or in Latin letters (`Novaalians` for «Новаальянс»).
fn company_as_written(rng: &mut StdRng, registered: &str) -> String {
    let bare: String = registered
        .split_whitespace()
        .filter(|w| !["ООО", "АО", "ПАО", "ЗАО"].contains(w))
        .collect::<Vec<_>>()
        .join(" ")
        .replace(['«', '»'], "");
    match rng.gen_range(0..3) {
        0 => registered.to_string(),
        1 => bare,
        _ => {
            let latin = translit(&bare, rng.gen_bool(0.5));
            if rng.gen_bool(0.5) {
                format!("OOO {latin}")
            } else {
                latin
            }
        }
    }
}

/// One Latin letter of the login replaced by its Cyrillic twin.
fn lookalike(rng: &mut StdRng, email: &str) -> String {
    let Some((local, domain)) = email.split_once('@') else {
        return email.to_string();
    };
    let twins = [
        ('a', 'а'),
        ('o', 'о'),
        ('e', 'е'),
        ('c', 'с'),
        ('p', 'р'),
        ('x', 'х'),
        ('y', 'у'),
    ];
    let spots: Vec<usize> = local
        .char_indices()
        .filter(|(_, c)| twins.iter().any(|(l, _)| l == c))
        .map(|(i, _)| i)
        .collect();
    let Some(&at) = spots.choose(rng) else {
        return email.to_string();
    };
    let mut out = String::with_capacity(email.len() + 2);
    for (i, c) in local.char_indices() {
        if i == at {
            out.push(twins.iter().find(|(l, _)| *l == c).map_or(c, |(_, t)| *t));
        } else {
            out.push(c);
        }
    }
    format!("{out}@{domain}")
}
