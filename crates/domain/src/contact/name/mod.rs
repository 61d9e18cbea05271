//! Person names as Russian speakers write them: «Фамилия Имя Отчество»,
//! «Имя Фамилия», «Фамилия И.О.», Latin passport spellings, diminutives.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::text::{lower, truncate_chars};

mod compare;
mod dict;
mod translit;

pub use compare::{
    compare, jaro_winkler, surname_similarity, NameAgreement, NameComparison, PartAgreement,
    SURNAME_MATCH,
};
pub use translit::{patronymic_key, surname_key, translit_key};

/// Longer input is not a name; the cap bounds the work on hostile input.
const MAX_NAME_CHARS: usize = 200;
/// No real name word is longer (the longest Russian surnames are ~25).
const MAX_WORD_CHARS: usize = 40;
/// Surname, given name, patronymic: more words are titles or chatter.
const MAX_NAME_WORDS: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Gender {
    Male,
    Female,
}

/// Initials as written («И.О.») or taken from the full name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Initials {
    pub given: Option<char>,
    pub patronymic: Option<char>,
}

impl fmt::Display for Initials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in [self.given, self.patronymic].into_iter().flatten() {
            write!(f, "{c}.")?;
        }
        Ok(())
    }
}

/// A person's name split into its parts.
///
/// Parts are stored with ё→е and in title case («Петров-Водкин»);
/// [`PersonName::parse`] never fails, a string with no name in it gives an
/// empty name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PersonName {
    surname: Option<String>,
    given: Option<String>,
    patronymic: Option<String>,
    given_initial: Option<char>,
    patronymic_initial: Option<char>,
    gender: Option<Gender>,
    /// Keys computed once at parse time: a client's name is parsed once and
    /// compared against many appeals, and transliteration is the costly
    /// part of a comparison.
    #[serde(skip)]
    keys: Keys,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct Keys {
    surname: String,
    given: String,
    patronymic: String,
    given_canonical: &'static [&'static str],
}

impl PersonName {
    pub fn parse(raw: &str) -> PersonName {
        let tokens = name_tokens(truncate_chars(raw, MAX_NAME_CHARS));
        let word_first = matches!(tokens.first(), Some(Token::Word(_)));
        let mut words: Vec<String> = Vec::with_capacity(MAX_NAME_WORDS);
        let mut initials: Vec<char> = Vec::with_capacity(2);
        for t in tokens {
            match t {
                Token::Word(w) => words.push(w),
                Token::Initial(c) => initials.push(c),
            }
        }

        let mut name = PersonName::default();
        let infos: Vec<WordInfo> = words.iter().map(|w| WordInfo::of(w)).collect();
        // «Анна К.»: a given name followed by one initial is the surname's
        // initial, which we do not keep; the word is the given name.
        let given_and_surname_initial = words.len() == 1
            && initials.len() == 1
            && word_first
            && infos
                .first()
                .is_some_and(|i| i.in_dictionary && !i.surname_like);
        if given_and_surname_initial {
            initials.clear();
        }
        let mut initials = initials.into_iter();
        let layout = if given_and_surname_initial {
            &[Role::Given][..]
        } else if words.len() == 1 && initials.len() > 0 {
            // «Иванов И.О.», «И.О. Иванов»: the word is the surname.
            &[Role::Surname][..]
        } else {
            best_layout(&infos)
        };
        let mut surname_info = None;
        let mut given_info = None;
        let mut patronymic_info = None;
        for ((word, info), role) in words.iter().zip(&infos).zip(layout) {
            match role {
                Role::Surname => {
                    name.surname = Some(title_case(word));
                    surname_info = Some(info);
                }
                Role::Given => {
                    name.given = Some(title_case(word));
                    given_info = Some(info);
                }
                Role::Patronymic => {
                    name.patronymic = Some(title_case(word));
                    patronymic_info = Some(info);
                }
                Role::Skip => {}
            }
        }
        if name.given.is_none() {
            name.given_initial = initials.next();
        }
        if name.patronymic.is_none() {
            name.patronymic_initial = initials.next();
        }
        name.gender = patronymic_info
            .and_then(|i| i.patronymic)
            .or_else(|| given_info.and_then(|i| i.given_gender))
            .or_else(|| surname_info.and_then(|i| i.surname_gender));
        name.keys = Keys {
            surname: name.surname.as_deref().map(surname_key).unwrap_or_default(),
            given: name.given.as_deref().map(translit_key).unwrap_or_default(),
            patronymic: name
                .patronymic
                .as_deref()
                .map(patronymic_key)
                .unwrap_or_default(),
            given_canonical: name.given.as_deref().map_or(&[], canonical_given_names),
        };
        name
    }

    pub fn surname(&self) -> Option<&str> {
        self.surname.as_deref()
    }

    pub fn given(&self) -> Option<&str> {
        self.given.as_deref()
    }

    pub fn patronymic(&self) -> Option<&str> {
        self.patronymic.as_deref()
    }

    pub fn gender(&self) -> Option<Gender> {
        self.gender
    }

    /// Initials, from the written initials or the first letters of the
    /// given name and patronymic.
    pub fn initials(&self) -> Initials {
        let first = |s: &Option<String>| s.as_deref().and_then(|s| s.chars().next());
        Initials {
            given: self.given_initial.or_else(|| first(&self.given)),
            patronymic: self.patronymic_initial.or_else(|| first(&self.patronymic)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.surname.is_none()
            && self.given.is_none()
            && self.patronymic.is_none()
            && self.given_initial.is_none()
            && self.patronymic_initial.is_none()
    }

    /// Full given names the given name may stand for (Саша → Александр,
    /// Александра); empty when the name is not in the dictionary.
    pub fn given_canonical(&self) -> &'static [&'static str] {
        self.keys.given_canonical
    }

    /// [`surname_key`] of the surname; `None` without a surname or when it
    /// has no letters we can key.
    pub fn surname_key(&self) -> Option<&str> {
        Some(self.keys.surname.as_str()).filter(|k| !k.is_empty())
    }
}

impl fmt::Display for PersonName {
    /// «Фамилия Имя Отчество», with initials where only those are known.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut sep = "";
        if let Some(s) = &self.surname {
            f.write_str(s)?;
            sep = " ";
        }
        match (&self.given, self.given_initial) {
            (Some(g), _) => {
                write!(f, "{sep}{g}")?;
                sep = " ";
            }
            (None, Some(i)) => {
                write!(f, "{sep}{i}.")?;
                sep = "";
            }
            (None, None) => {}
        }
        match (&self.patronymic, self.patronymic_initial) {
            (Some(p), _) => write!(f, "{}{p}", if sep.is_empty() { "" } else { " " })?,
            (None, Some(i)) => write!(f, "{sep}{i}.")?,
            (None, None) => {}
        }
        Ok(())
    }
}

/// Blocking keys for the candidate index: clients sharing a key with an
/// appeal are compared in full. Few, deterministic and sorted:
///
/// * `sn:<surname key>` — any name with a surname;
/// * `gn+sn:<canonical given>|<surname key>` — one per full given name the
///   given name may stand for (lowercase Cyrillic), or `~<translit key>`
///   for names outside the dictionary;
/// * `gi+sn:<initial>|<surname key>` — so «Иванов И.И.» meets «Иван
///   Иванов»;
/// * `gn+pn:<canonical given>|<patronymic key>` — for «Имя Отчество»
///   without a surname.
///
/// A bare given name yields no key: it would block half the base.
pub fn name_keys(name: &PersonName) -> Vec<String> {
    let mut keys = Vec::new();
    let canon = name.given_canonical();
    let given_keys: Vec<String> = if !canon.is_empty() {
        canon.iter().map(|c| normalize_word(c)).collect()
    } else if name.keys.given.is_empty() {
        Vec::new()
    } else {
        vec![format!("~{}", name.keys.given)]
    };
    let initial = name
        .initials()
        .given
        .and_then(|c| translit_key(c.encode_utf8(&mut [0; 4])).chars().next());
    if let Some(sk) = name.surname_key() {
        keys.push(format!("sn:{sk}"));
        for g in &given_keys {
            keys.push(format!("gn+sn:{g}|{sk}"));
        }
        if let Some(i) = initial {
            keys.push(format!("gi+sn:{i}|{sk}"));
        }
    } else if !name.keys.patronymic.is_empty() {
        for g in &given_keys {
            keys.push(format!("gn+pn:{g}|{}", name.keys.patronymic));
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// Full names a given name or its short form stands for: «Саша» →
/// [Александр, Александра], «Наталия» → [Наталья], «Sergey» → [Сергей].
/// Empty if the word is not in the dictionary.
pub fn canonical_given_names(word: &str) -> &'static [&'static str] {
    given_entry(word).map_or(&[], |e| e.names.as_slice())
}

/// Gender of a given name, if the dictionary knows it and it is not shared
/// (Саша, Женя, Валя are both).
pub fn given_name_gender(word: &str) -> Option<Gender> {
    given_entry(word).and_then(|e| e.gender)
}

struct GivenEntry {
    names: Vec<&'static str>,
    gender: Option<Gender>,
}

struct Dictionary {
    /// Lowercase form (ё→е) → names.
    by_form: HashMap<String, GivenEntry>,
    /// Transliteration key → names, for Latin spellings.
    by_key: HashMap<String, GivenEntry>,
}

fn dictionary() -> &'static Dictionary {
    static DICTIONARY: OnceLock<Dictionary> = OnceLock::new();
    DICTIONARY.get_or_init(build_dictionary)
}

fn build_dictionary() -> Dictionary {
    fn add(map: &mut HashMap<String, GivenEntry>, key: String, name: &'static str, g: Gender) {
        if key.is_empty() {
            return;
        }
        let entry = map.entry(key).or_insert_with(|| GivenEntry {
            names: Vec::new(),
            gender: Some(g),
        });
        if !entry.names.contains(&name) {
            entry.names.push(name);
        }
        if entry.gender != Some(g) {
            entry.gender = None;
        }
    }
    let mut by_form = HashMap::new();
    let mut by_key = HashMap::new();
    // A form may be shared by names of both genders (Саша, Валя); `add`
    // then clears the entry's gender.
    for line in dict::GIVEN_NAMES.lines() {
        let Some((g, rest)) = line.split_once(' ') else {
            continue;
        };
        let gender = if g == "F" {
            Gender::Female
        } else {
            Gender::Male
        };
        let (fulls, forms) = rest.split_once(':').unwrap_or((rest, ""));
        let mut fulls = fulls.split('/').map(str::trim).filter(|s| !s.is_empty());
        let Some(canonical) = fulls.next() else {
            continue;
        };
        for form in std::iter::once(canonical)
            .chain(fulls)
            .chain(forms.split_whitespace())
        {
            add(&mut by_form, normalize_word(form), canonical, gender);
            add(&mut by_key, translit_key(form), canonical, gender);
        }
    }
    for map in [&mut by_form, &mut by_key] {
        for e in map.values_mut() {
            e.names.sort_unstable();
        }
    }
    Dictionary { by_form, by_key }
}

fn given_entry(word: &str) -> Option<&'static GivenEntry> {
    let word = word.trim();
    if word.is_empty() || word.chars().count() > MAX_WORD_CHARS {
        return None;
    }
    let dict = dictionary();
    if let Some(e) = dict.by_form.get(&normalize_word(word)) {
        return Some(e);
    }
    if word.chars().any(|c| c.is_ascii_alphabetic()) {
        return dict.by_key.get(&translit_key(word));
    }
    None
}

/// Lowercase with ё→е.
fn normalize_word(s: &str) -> String {
    s.chars()
        .map(|c| match lower(c) {
            'ё' => 'е',
            l => l,
        })
        .collect()
}

fn title_case(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    let mut start = true;
    for c in word.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = c == '-';
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// Lowercase, ё→е, apostrophes removed.
    Word(String),
    Initial(char),
}

/// Words that accompany a name but are not part of it: forms of address,
/// job titles, greetings and form labels.
const STOP_WORDS: &[&str] = &[
    "г",
    "г-жа",
    "г-н",
    "гжа",
    "гн",
    "госп",
    "господин",
    "госпожа",
    "гражданин",
    "гражданка",
    "уважаемый",
    "уважаемая",
    "уважаемые",
    "дорогой",
    "дорогая",
    "mr",
    "mrs",
    "ms",
    "miss",
    "mister",
    "dr",
    "sir",
    "madam",
    "dear",
    "тов",
    "товарищ",
    "менеджер",
    "директор",
    "генеральный",
    "гендиректор",
    "бухгалтер",
    "главный",
    "руководитель",
    "отдел",
    "отдела",
    "клиент",
    "покупатель",
    "заказчик",
    "привет",
    "здравствуйте",
    "добрый",
    "день",
    "вечер",
    "утро",
    "с",
    "уважением",
    "от",
    "имя",
    "фамилия",
    "отчество",
    "фио",
    "name",
    "контакт",
    "контактное",
    "лицо",
    "тел",
    "телефон",
    "email",
    "почта",
    "инженер",
    "специалист",
    "зам",
    "заместитель",
    "manager",
    "director",
    "ceo",
    "ип",
    "индивидуальный",
    "предприниматель",
    "и",
    "and",
    "regards",
    "best",
    "hello",
    "hi",
    "спасибо",
    "меня",
    "зовут",
    "это",
    "я",
    "продаж",
    "продажи",
    "закупок",
    "маркетинга",
    "офис",
    "офиса",
    "компании",
    "sales",
    "support",
    "поддержка",
    "служба",
    "team",
    "команда",
];

/// Legal forms: what follows them is a company, not a person.
const LEGAL_FORMS: &[&str] = &[
    "ооо",
    "оао",
    "зао",
    "пао",
    "ао",
    "нао",
    "гк",
    "тд",
    "нко",
    "ано",
    "фгуп",
    "муп",
    "гуп",
    "llc",
    "ltd",
    "inc",
    "gmbh",
    "corp",
    "компания",
    "группа",
    "завод",
    "фирма",
];

fn is_stop_word(w: &str) -> bool {
    STOP_WORDS.contains(&w)
}

/// Tokens of the first part of `raw` that holds a name.
fn name_tokens(raw: &str) -> Vec<Token> {
    let segments = segments(raw);
    let words_in = |s: &[Token]| s.iter().filter(|t| matches!(t, Token::Word(_))).count();
    // The first segment with a word in it; «С уважением, Дмитрий» leaves a
    // lone «С» before the comma.
    let Some(at) = segments
        .iter()
        .position(|s| words_in(s) > 0)
        .or_else(|| segments.iter().position(|s| !s.is_empty()))
    else {
        return Vec::new();
    };
    let mut first = segments[at].clone();
    // «Петров, Иван», «Иванов, И.И.»: a surname alone, the rest after a
    // comma. «Анастасия, менеджер» must not pull in the next segment.
    if let (1, Some(next)) = (first.len(), segments.get(at + 1)) {
        let lone_surname = match &first[0] {
            Token::Word(w) => given_entry(w).is_none(),
            Token::Initial(_) => false,
        };
        let next_is_name_rest = next.iter().all(|t| matches!(t, Token::Initial(_)))
            || next.iter().any(|t| match t {
                Token::Word(w) => given_entry(w).is_some(),
                Token::Initial(_) => false,
            });
        if lone_surname && !next.is_empty() && words_in(next) <= 2 && next_is_name_rest {
            first.extend(next.iter().cloned());
        }
    }
    let mut words = 0;
    first.retain(|t| match t {
        Token::Word(_) => {
            words += 1;
            words <= MAX_NAME_WORDS
        }
        Token::Initial(_) => true,
    });
    first
}

/// Split on list separators, dropping quoted and bracketed text (company
/// names, remarks), stop words, and everything after a legal form.
fn segments(raw: &str) -> Vec<Vec<Token>> {
    let mut segments: Vec<Vec<Token>> = vec![Vec::new()];
    let mut word = String::new();
    let mut word_capital = false;
    let mut word_has_digit = false;
    let mut company = false;
    let mut closing: Option<char> = None;
    let mut chars = raw.chars().peekable();

    /// `initial`: the word was followed by a dot, or is one capital letter.
    fn finish(
        word: &mut String,
        has_digit: &mut bool,
        company: &mut bool,
        initial: bool,
        segment: &mut Vec<Token>,
    ) {
        if word.is_empty() {
            *has_digit = false;
            return;
        }
        let w = std::mem::take(word).trim_matches('-').to_owned();
        let digit = std::mem::replace(has_digit, false);
        let n = w.chars().count();
        if *company || digit || n == 0 || n > MAX_WORD_CHARS {
            return;
        }
        if LEGAL_FORMS.contains(&w.as_str()) {
            *company = true;
            return;
        }
        if n == 1 {
            // A lone lowercase letter is a conjunction or a preposition
            // («и», «с»), a capital or dotted one an initial.
            if let (true, Some(c)) = (initial, w.chars().next()) {
                segment.push(Token::Initial(c.to_uppercase().next().unwrap_or(c)));
            }
            return;
        }
        if !is_stop_word(&w) {
            segment.push(Token::Word(w));
        }
    }

    while let Some(c) = chars.next() {
        if let Some(close) = closing {
            if c == close || (close == '“' && c == '”') {
                closing = None;
            }
            continue;
        }
        let Some(seg) = segments.last_mut() else {
            break;
        };
        match c {
            '«' => closing = Some('»'),
            '„' => closing = Some('“'),
            '“' => closing = Some('”'),
            '"' => closing = Some('"'),
            '(' => closing = Some(')'),
            '[' => closing = Some(']'),
            '\'' | '’' if word.is_empty() => closing = Some(c),
            '\'' | '’' | 'ʼ' => {}
            ',' | ';' | '/' | '|' | ':' | '\n' | '\r' | '\t' => {
                finish(
                    &mut word,
                    &mut word_has_digit,
                    &mut company,
                    word_capital,
                    seg,
                );
                company = false;
                segments.push(Vec::new());
            }
            '.' => finish(&mut word, &mut word_has_digit, &mut company, true, seg),
            '-' | '‐' if !word.is_empty() && chars.peek().is_some_and(|n| n.is_alphabetic()) => {
                word.push('-');
            }
            c if c.is_alphabetic() => {
                if word.is_empty() {
                    word_capital = c.is_uppercase();
                }
                word.push(match lower(c) {
                    'ё' => 'е',
                    l => l,
                });
            }
            c if c.is_ascii_digit() => word_has_digit = true,
            _ => finish(
                &mut word,
                &mut word_has_digit,
                &mut company,
                word_capital,
                seg,
            ),
        }
    }
    if let Some(seg) = segments.last_mut() {
        finish(
            &mut word,
            &mut word_has_digit,
            &mut company,
            word_capital,
            seg,
        );
    }
    segments
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Surname,
    Given,
    Patronymic,
    Skip,
}

/// What a word looks like, computed once per word.
#[derive(Debug, Clone, Copy)]
struct WordInfo {
    in_dictionary: bool,
    given_gender: Option<Gender>,
    patronymic: Option<Gender>,
    surname_like: bool,
    surname_gender: Option<Gender>,
}

impl WordInfo {
    fn of(word: &str) -> WordInfo {
        let entry = given_entry(word);
        let key = translit_key(word);
        let surname_gender = surname_gender_of_key(&key);
        WordInfo {
            in_dictionary: entry.is_some(),
            given_gender: entry.and_then(|e| e.gender),
            patronymic: patronymic_gender_of_key(&key),
            surname_like: surname_gender.is_some() || looks_like_surname(word, &key),
            surname_gender,
        }
    }

    fn score(&self, role: Role) -> f32 {
        let mut s = 0.0;
        match role {
            Role::Given => {
                if self.in_dictionary {
                    s += 3.0;
                } else if self.surname_like {
                    s -= 1.0;
                }
                if self.patronymic.is_some() {
                    s -= 3.0;
                }
            }
            Role::Surname => {
                if self.surname_like {
                    s += 2.0;
                }
                if self.in_dictionary {
                    s -= 2.0;
                }
                if self.patronymic.is_some() {
                    s -= 1.0;
                }
            }
            Role::Patronymic => s += if self.patronymic.is_some() { 3.0 } else { -4.0 },
            Role::Skip => s -= 1.5,
        }
        s
    }
}

/// Word orders people use, with a small bias that breaks ties in favour
/// of the more common order.
const LAYOUTS_1: &[(&[Role], f32)] = &[
    (&[Role::Given], 0.1),
    (&[Role::Surname], 0.0),
    (&[Role::Patronymic], 0.0),
];
const LAYOUTS_2: &[(&[Role], f32)] = &[
    (&[Role::Given, Role::Surname], 0.2),
    (&[Role::Surname, Role::Given], 0.1),
    (&[Role::Given, Role::Patronymic], 0.0),
];
const LAYOUTS_3: &[(&[Role], f32)] = &[
    (&[Role::Surname, Role::Given, Role::Patronymic], 0.5),
    (&[Role::Given, Role::Patronymic, Role::Surname], 0.2),
    (&[Role::Surname, Role::Given, Role::Skip], 0.0),
    (&[Role::Given, Role::Surname, Role::Skip], 0.0),
];

fn best_layout(infos: &[WordInfo]) -> &'static [Role] {
    let layouts = match infos.len() {
        0 => return &[],
        1 => LAYOUTS_1,
        2 => LAYOUTS_2,
        _ => LAYOUTS_3,
    };
    let mut best: (&'static [Role], f32) = (layouts[0].0, f32::MIN);
    for &(roles, bias) in layouts {
        let mut score: f32 = bias
            + roles
                .iter()
                .zip(infos)
                .map(|(r, i)| i.score(*r))
                .sum::<f32>();
        // «Оксана Бабич»: a woman's name followed by a man's patronymic
        // means the second word is a surname ending in -ич.
        let given = roles.iter().position(|r| *r == Role::Given);
        let patronymic = roles.iter().position(|r| *r == Role::Patronymic);
        if let (Some(g), Some(p)) = (given, patronymic) {
            if let (Some(gg), Some(pg)) = (infos[g].given_gender, infos[p].patronymic) {
                if gg != pg {
                    score -= 6.0;
                }
            }
        }
        if score > best.1 {
            best = (roles, score);
        }
    }
    best.0
}

/// Patronymic gender from the key, so Cyrillic and Latin spellings agree
/// (Иванович, Ivanovich, Ivanovitch).
fn patronymic_gender_of_key(key: &str) -> Option<Gender> {
    if key.contains(' ') {
        return None;
    }
    if key.ends_with("ovna") || key.ends_with("evna") || key.ends_with("iCna") {
        return Some(Gender::Female);
    }
    if key.ends_with("oviC") || key.ends_with("eviC") || (key.ends_with("iC") && key.len() >= 4) {
        return Some(Gender::Male);
    }
    None
}

/// Gender a surname's ending implies: Петрова, Ильина, Чайковская are
/// women's surnames; Петров, Ильин, Чайковский men's.
fn surname_gender_of_key(key: &str) -> Option<Gender> {
    let last = key.rsplit(' ').next().unwrap_or(key);
    if last.len() < 4 {
        return None;
    }
    const FEMALE: &[&str] = &["ova", "eva", "ina", "ska", "Tka"];
    const MALE: &[&str] = &["ov", "ev", "in", "ski", "Tki"];
    if FEMALE.iter().any(|e| last.ends_with(e)) {
        Some(Gender::Female)
    } else if MALE.iter().any(|e| last.ends_with(e)) {
        Some(Gender::Male)
    } else {
        None
    }
}

/// Surname endings that say nothing about gender: Шевченко, Ковальчук,
/// Черных, Петросян, Цой.
fn looks_like_surname(word: &str, key: &str) -> bool {
    const KEY_ENDINGS: &[&str] = &["ko", "uk", "iH", "oi"];
    const WORD_ENDINGS: &[&str] = &["ян", "янц", "дзе", "швили", "yan", "ian", "dze", "shvili"];
    KEY_ENDINGS.iter().any(|e| key.ends_with(e)) || WORD_ENDINGS.iter().any(|e| word.ends_with(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(raw: &str) -> (Option<String>, Option<String>, Option<String>) {
        let n = PersonName::parse(raw);
        (
            n.surname().map(str::to_owned),
            n.given().map(str::to_owned),
            n.patronymic().map(str::to_owned),
        )
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn russian_name_orders() {
        let full = (s("Иванов"), s("Иван"), s("Иванович"));
        assert_eq!(parts("Иванов Иван Иванович"), full);
        assert_eq!(parts("Иван Иванович Иванов"), full);
        assert_eq!(parts("  иванов   ИВАН иванович "), full);
        assert_eq!(parts("Иван Петров"), (s("Петров"), s("Иван"), None));
        assert_eq!(parts("Петров Иван"), (s("Петров"), s("Иван"), None));
        assert_eq!(parts("Анна Сергеевна"), (None, s("Анна"), s("Сергеевна")));
        assert_eq!(parts("Марина Иванова"), (s("Иванова"), s("Марина"), None));
        assert_eq!(parts("Петров, Иван"), (s("Петров"), s("Иван"), None));
        assert_eq!(
            parts("Иван Петрович Карпович"),
            (s("Карпович"), s("Иван"), s("Петрович"))
        );
        assert_eq!(
            parts("Петров-Водкин Кузьма Сергеевич"),
            (s("Петров-Водкин"), s("Кузьма"), s("Сергеевич"))
        );
    }

    #[test]
    fn initials() {
        for raw in [
            "Иванов И.О.",
            "Иванов И. О.",
            "И.О. Иванов",
            "И.О.Иванов",
            "Иванов И О",
        ] {
            let n = PersonName::parse(raw);
            assert_eq!(n.surname(), Some("Иванов"), "{raw}");
            assert_eq!(n.given(), None, "{raw}");
            assert_eq!(
                n.initials(),
                Initials {
                    given: Some('И'),
                    patronymic: Some('О')
                },
                "{raw}"
            );
            assert_eq!(n.initials().to_string(), "И.О.");
        }
        let n = PersonName::parse("Петрова А.");
        assert_eq!(n.initials().given, Some('А'));
        assert_eq!(n.initials().patronymic, None);
        assert_eq!(n.gender(), Some(Gender::Female));
        assert_eq!(n.to_string(), "Петрова А.");
        let n = PersonName::parse("Иванов Иван Иванович");
        assert_eq!(n.initials().to_string(), "И.И.");
    }

    #[test]
    fn latin_names() {
        assert_eq!(parts("Sergey Ivanov"), (s("Ivanov"), s("Sergey"), None));
        assert_eq!(parts("IVANOV SERGEY"), (s("Ivanov"), s("Sergey"), None));
        assert_eq!(
            parts("Ivanova Yulia Sergeevna"),
            (s("Ivanova"), s("Yulia"), s("Sergeevna"))
        );
        let n = PersonName::parse("Sergey Ivanov");
        assert_eq!(n.gender(), Some(Gender::Male));
        assert_eq!(n.given_canonical(), ["Сергей"]);
    }

    #[test]
    fn single_words() {
        assert_eq!(parts("Иван"), (None, s("Иван"), None));
        assert_eq!(parts("Петров"), (s("Петров"), None, None));
        assert_eq!(parts("Саша"), (None, s("Саша"), None));
        assert_eq!(parts("Шевченко"), (s("Шевченко"), None, None));
        assert_eq!(parts("SunnyBunny"), (None, s("Sunnybunny"), None));
    }

    #[test]
    fn noise_is_dropped() {
        assert_eq!(parts("г-н Петров Иван"), (s("Петров"), s("Иван"), None));
        assert_eq!(
            parts("Уважаемый Иван Петрович"),
            (None, s("Иван"), s("Петрович"))
        );
        assert_eq!(parts("Mr. Sergey Ivanov"), (s("Ivanov"), s("Sergey"), None));
        assert_eq!(
            parts("Иван Петров, ООО «Ромашка»"),
            (s("Петров"), s("Иван"), None)
        );
        assert_eq!(
            parts("Петров Иван (ООО \"Ромашка\") менеджер"),
            (s("Петров"), s("Иван"), None)
        );
        assert_eq!(
            parts("Иван Петров ООО Ромашка"),
            (s("Петров"), s("Иван"), None)
        );
        assert_eq!(parts("ИП Иванов Иван Иванович").0, s("Иванов"));
        assert_eq!(parts("ФИО: Сидоров Пётр"), (s("Сидоров"), s("Петр"), None));
        assert_eq!(parts("Алёна Семёнова"), (s("Семенова"), s("Алена"), None));
        assert_eq!(parts("Иван 👍 Петров 🙂"), (s("Петров"), s("Иван"), None));
        assert_eq!(parts("user12345 Иван"), (None, s("Иван"), None));
        assert_eq!(parts("С уважением, Дмитрий"), (None, s("Дмитрий"), None));
        assert_eq!(
            parts("Анастасия | отдел продаж"),
            (None, s("Анастасия"), None)
        );
        assert_eq!(parts("Анастасия, менеджер"), (None, s("Анастасия"), None));
        assert_eq!(parts("Иванов, И.И.").0, s("Иванов"));
        assert_eq!(
            PersonName::parse("Иванов, И.И.").initials().to_string(),
            "И.И."
        );
        assert_eq!(parts("Дорогой Пётр Ильич"), (None, s("Петр"), s("Ильич")));
    }

    #[test]
    fn empty_and_hostile() {
        assert!(PersonName::parse("").is_empty());
        assert!(PersonName::parse("   ").is_empty());
        assert!(PersonName::parse("12345").is_empty());
        assert!(PersonName::parse("😀😀😀").is_empty());
        assert!(PersonName::parse("ООО «Ромашка»").is_empty());
        let long = "Иван".repeat(10_000);
        let n = PersonName::parse(&long);
        assert!(n.given().is_none() && n.surname().is_none());
        let many = "Иван ".repeat(10_000);
        assert_eq!(PersonName::parse(&many).given(), Some("Иван"));
        let mixed = "Ив😀ан Пе\u{301}тров «».,-–— ( \" '".repeat(50);
        let _ = PersonName::parse(&mixed);
        let _ = PersonName::parse("-.-.-.-");
        let _ = PersonName::parse("«");
        let _ = PersonName::parse("И.");
    }

    #[test]
    fn gender_detection() {
        let g = |raw| PersonName::parse(raw).gender();
        assert_eq!(g("Иванов Иван Иванович"), Some(Gender::Male));
        assert_eq!(g("Петрова Анна"), Some(Gender::Female));
        assert_eq!(g("Саша Петрова"), Some(Gender::Female));
        assert_eq!(g("Саша"), None);
        assert_eq!(g("Женя Ким"), None);
        assert_eq!(g("Ким Евгения"), Some(Gender::Female));
        assert_eq!(g("Петров Саша"), Some(Gender::Male));
        assert_eq!(g("Чайковская"), Some(Gender::Female));
        assert_eq!(g("Шевченко"), None);
        assert_eq!(g("Анна Сергеевна"), Some(Gender::Female));
        assert_eq!(g("Олег"), Some(Gender::Male));
        assert_eq!(g("Ivanova Maria"), Some(Gender::Female));
        assert_eq!(parts("Оксана Бабич"), (s("Бабич"), s("Оксана"), None));
        assert_eq!(g("Оксана Бабич"), Some(Gender::Female));
    }

    #[test]
    fn dictionary_diminutives() {
        assert_eq!(canonical_given_names("Саша"), ["Александр", "Александра"]);
        assert_eq!(canonical_given_names("Серёжа"), ["Сергей"]);
        assert_eq!(canonical_given_names("Женя"), ["Евгений", "Евгения"]);
        assert_eq!(canonical_given_names("шура"), ["Александр", "Александра"]);
        assert_eq!(canonical_given_names("Лёша"), ["Алексей"]);
        assert_eq!(canonical_given_names("Дима"), ["Дмитрий"]);
        assert_eq!(canonical_given_names("Катя"), ["Екатерина"]);
        assert_eq!(canonical_given_names("Настя"), ["Анастасия"]);
        assert_eq!(canonical_given_names("Юля"), ["Юлия"]);
        assert_eq!(canonical_given_names("Таня"), ["Татьяна"]);
        assert_eq!(canonical_given_names("Вова"), ["Владимир"]);
        assert_eq!(canonical_given_names("Володя"), ["Владимир"]);
        assert_eq!(canonical_given_names("Коля"), ["Николай"]);
        let slava = canonical_given_names("Слава");
        for n in ["Вячеслав", "Ярослав", "Владислав", "Станислав"]
        {
            assert!(slava.contains(&n), "{n}");
        }
        assert_eq!(canonical_given_names("Наталия"), ["Наталья"]);
        assert_eq!(canonical_given_names("Наталья"), ["Наталья"]);
        assert_eq!(canonical_given_names("Sasha"), ["Александр", "Александра"]);
        assert_eq!(canonical_given_names("Natalia"), ["Наталья"]);
        assert_eq!(canonical_given_names("Iuliia"), ["Юлия"]);
        assert!(canonical_given_names("Ромашка").is_empty());
        assert!(canonical_given_names("").is_empty());
        assert_eq!(given_name_gender("Саша"), None);
        assert_eq!(given_name_gender("Серёжа"), Some(Gender::Male));
    }

    #[test]
    fn dictionary_is_large_and_consistent() {
        let mut fulls = Vec::new();
        for line in dict::GIVEN_NAMES.lines() {
            let (g, rest) = line.split_once(' ').unwrap();
            assert!(g == "M" || g == "F", "{line}");
            let full = rest
                .split(':')
                .next()
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .trim();
            assert!(!full.contains('ё'), "{full}");
            fulls.push(full);
        }
        let n = fulls.len();
        fulls.sort_unstable();
        fulls.dedup();
        assert_eq!(fulls.len(), n, "duplicate full names");
        assert!(n >= 300, "{n}");
        for full in &fulls {
            assert!(canonical_given_names(full).contains(full), "{full}");
        }
    }

    #[test]
    fn blocking_keys() {
        let keys = name_keys(&PersonName::parse("Иванов Иван Иванович"));
        assert_eq!(keys, ["gi+sn:i|ivanov", "gn+sn:иван|ivanov", "sn:ivanov"]);
        let latin = name_keys(&PersonName::parse("Ivan Ivanov"));
        assert_eq!(latin, keys);
        let initials = name_keys(&PersonName::parse("Иванов И.И."));
        assert_eq!(initials, ["gi+sn:i|ivanov", "sn:ivanov"]);
        let sasha = name_keys(&PersonName::parse("Саша Петрова"));
        assert_eq!(
            sasha,
            [
                "gi+sn:s|petrov",
                "gn+sn:александр|petrov",
                "gn+sn:александра|petrov",
                "sn:petrov"
            ]
        );
        assert_eq!(
            name_keys(&PersonName::parse("Анна Сергеевна")),
            ["gn+pn:анна|sergeviC"]
        );
        assert!(name_keys(&PersonName::parse("Иван")).is_empty());
        assert!(name_keys(&PersonName::default()).is_empty());
        let unknown = name_keys(&PersonName::parse("Sunny Kim"));
        assert!(
            unknown.contains(&"gn+sn:~suni|kim".to_owned()),
            "{unknown:?}"
        );
    }
}

/// Whether text typed into a "name" field may be put into a mail that greets
/// the person: letters, spaces and hyphens only, at most 60 characters. Links,
/// digits and punctuation (what an advert sent through our form would need)
/// are never mailed back out.
pub fn looks_like_a_name(text: &str) -> bool {
    let text = text.trim();
    !text.is_empty()
        && text.chars().count() <= 60
        && text.chars().any(char::is_alphabetic)
        && text
            .chars()
            .all(|c| c.is_alphabetic() || c == ' ' || c == '-')
}

#[cfg(test)]
mod greeting_tests {
    use super::looks_like_a_name;

    #[test]
    fn only_names_are_greeted() {
        for name in [
            "Анна",
            "Анна-Мария Петрова",
            "  Ivan Petrov ",
            "Жанна д-Арк",
        ] {
            assert!(looks_like_a_name(name), "{name}");
        }
        for text in [
            "",
            "   ",
            "---",
            "Win a prize at http://spam.example",
            "Иван, позвоните 89123456789",
            "Ivan.Petrov",
            "<b>Ivan</b>",
            &"а".repeat(61),
        ] {
            assert!(!looks_like_a_name(text), "{text}");
        }
        assert!(looks_like_a_name(&"а".repeat(60)));
    }
}
