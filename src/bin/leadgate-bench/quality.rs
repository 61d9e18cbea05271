//! `leadgate-bench match`: matching quality on a labelled, generated set of
//! Russian clients and appeals, run through the real engine against a real
//! database (a SQLite file in a temp dir, or `--db postgres://...`, which
//! must be an empty database).
//!
//! Every appeal is labelled with the client it is really from (or none) and
//! with whether the data alone can decide it. Printed: the false-merge rate
//! (auto-links to the wrong client, or of a new person, ÷ all auto-links),
//! the missed-duplicate rate (new clients for people already known ÷
//! decidable appeals from known people), the review rate (÷ decidable
//! appeals), and a table by kind of variation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args as ClapArgs;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use leadgate::appeal::{ContactCard, TelegramContact, VkContact};
use leadgate::client::ClientKind;
use leadgate::contact::Region;
use leadgate::dedup::{DecisionKind, Probe};
use leadgate::settings::{DatabaseSettings, MatchingSettings, SqliteSync};
use leadgate::storage::{ImportedClient, ImportedPerson, Store};

mod hard;

/// Which labelled set to generate.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    /// One variation per appeal on a clean base (the original set).
    Basic,
    /// Two or three variations per appeal, messy spellings and the traps of
    /// real traffic, on a base with relatives, office lines and junk.
    Hard,
}

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The labelled set: `basic` or `hard`.
    #[arg(long, value_enum, default_value_t = Set::Basic)]
    pub set: Set,
    /// Clients in the generated base (20,000 basic, 30,000 hard).
    #[arg(long)]
    pub clients: Option<usize>,
    /// Appeals matched against it (20,000 basic, 6,000 hard).
    #[arg(long)]
    pub appeals: Option<usize>,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// An empty PostgreSQL database instead of a temporary SQLite file.
    #[arg(long)]
    pub db: Option<String>,
    /// Exit with an error when a target is missed.
    #[arg(long)]
    pub check: bool,
    /// Print this many wrong decisions per variation, for tuning.
    #[arg(long, default_value_t = 0)]
    pub show_errors: usize,
}

// ---------------------------------------------------------------- name data

/// (full name, gender is female, short forms, Latin spellings)
const GIVEN: &[(&str, bool, &[&str], &[&str])] = &[
    (
        "Александр",
        false,
        &["Саша", "Шура"],
        &["Aleksandr", "Alexander"],
    ),
    ("Сергей", false, &["Серёжа"], &["Sergey", "Sergei"]),
    ("Дмитрий", false, &["Дима"], &["Dmitriy", "Dmitry"]),
    ("Андрей", false, &["Андрюша"], &["Andrey", "Andrei"]),
    ("Алексей", false, &["Лёша"], &["Aleksey", "Alexey"]),
    ("Михаил", false, &["Миша"], &["Mikhail"]),
    ("Иван", false, &["Ваня"], &["Ivan"]),
    ("Николай", false, &["Коля"], &["Nikolay", "Nikolai"]),
    ("Владимир", false, &["Вова", "Володя"], &["Vladimir"]),
    ("Евгений", false, &["Женя"], &["Evgeny", "Evgeniy"]),
    ("Павел", false, &["Паша"], &["Pavel"]),
    ("Олег", false, &[], &["Oleg"]),
    ("Юрий", false, &["Юра"], &["Yuriy", "Yury"]),
    ("Максим", false, &["Макс"], &["Maksim", "Maxim"]),
    ("Константин", false, &["Костя"], &["Konstantin"]),
    ("Виктор", false, &["Витя"], &["Viktor"]),
    ("Анна", true, &["Аня"], &["Anna"]),
    ("Елена", true, &["Лена"], &["Elena", "Yelena"]),
    ("Ольга", true, &["Оля"], &["Olga"]),
    ("Наталья", true, &["Наташа"], &["Natalya", "Natalia"]),
    ("Татьяна", true, &["Таня"], &["Tatyana", "Tatiana"]),
    ("Мария", true, &["Маша"], &["Maria", "Mariya"]),
    ("Екатерина", true, &["Катя"], &["Ekaterina", "Yekaterina"]),
    ("Ирина", true, &["Ира"], &["Irina"]),
    ("Светлана", true, &["Света"], &["Svetlana"]),
    ("Юлия", true, &["Юля"], &["Yulia", "Iuliia"]),
    ("Анастасия", true, &["Настя"], &["Anastasia", "Anastasiya"]),
    ("Марина", true, &[], &["Marina"]),
    ("Дарья", true, &["Даша"], &["Daria", "Darya"]),
    ("Ксения", true, &["Ксюша"], &["Ksenia", "Kseniya"]),
    ("Людмила", true, &["Люда"], &["Lyudmila", "Liudmila"]),
    ("Галина", true, &["Галя"], &["Galina"]),
];

/// Fathers' names: (given, patronymic male, patronymic female).
const PATRONYMICS: &[(&str, &str)] = &[
    ("Иванович", "Ивановна"),
    ("Сергеевич", "Сергеевна"),
    ("Александрович", "Александровна"),
    ("Дмитриевич", "Дмитриевна"),
    ("Андреевич", "Андреевна"),
    ("Алексеевич", "Алексеевна"),
    ("Михайлович", "Михайловна"),
    ("Николаевич", "Николаевна"),
    ("Владимирович", "Владимировна"),
    ("Евгеньевич", "Евгеньевна"),
    ("Павлович", "Павловна"),
    ("Олегович", "Олеговна"),
    ("Юрьевич", "Юрьевна"),
    ("Викторович", "Викторовна"),
];

/// Common surnames (masculine form), most frequent first.
const SURNAMES: &[&str] = &[
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Васильев",
    "Петров",
    "Соколов",
    "Михайлов",
    "Новиков",
    "Фёдоров",
    "Морозов",
    "Волков",
    "Алексеев",
    "Лебедев",
    "Семёнов",
    "Егоров",
    "Павлов",
    "Козлов",
    "Степанов",
    "Николаев",
    "Орлов",
    "Андреев",
    "Макаров",
    "Никитин",
    "Захаров",
    "Зайцев",
    "Соловьёв",
    "Борисов",
    "Яковлев",
    "Григорьев",
    "Романов",
    "Воробьёв",
    "Сергеев",
    "Кузьмин",
    "Фролов",
    "Александров",
    "Дмитриев",
    "Королёв",
    "Гусев",
    "Киселёв",
    "Ильин",
    "Максимов",
    "Поляков",
    "Сорокин",
    "Виноградов",
    "Ковалёв",
    "Белов",
    "Медведев",
    "Антонов",
    "Тарасов",
    "Жуков",
    "Баранов",
    "Филиппов",
    "Комаров",
    "Давыдов",
    "Беляев",
    "Герасимов",
    "Богданов",
    "Осипов",
    "Сидоров",
    "Матвеев",
    "Титов",
    "Марков",
    "Миронов",
    "Крылов",
    "Куликов",
    "Карпов",
    "Власов",
    "Мельников",
    "Денисов",
    "Гаврилов",
    "Тихонов",
    "Казаков",
    "Афанасьев",
    "Данилов",
    "Савельев",
    "Тимофеев",
    "Фомин",
    "Чернов",
    "Абрамов",
    "Мартынов",
    "Ефимов",
    "Федотов",
    "Щербаков",
    "Назаров",
    "Калинин",
    "Исаев",
    "Чернышёв",
    "Быков",
    "Маслов",
    "Родионов",
    "Коновалов",
    "Лазарев",
    "Воронин",
    "Климов",
    "Филатов",
    "Пономарёв",
    "Голубев",
    "Кудрявцев",
    "Прохоров",
    "Наумов",
    "Потапов",
    "Журавлёв",
    "Овчинников",
    "Трофимов",
    "Леонов",
    "Соболев",
    "Ермаков",
    "Колесников",
    "Гончаров",
    "Емельянов",
    "Никифоров",
    "Грачёв",
    "Котов",
    "Гришин",
    "Ефремов",
    "Архипов",
    "Громов",
    "Кириллов",
    "Малышев",
    "Панов",
    "Моисеев",
    "Румянцев",
    "Акимов",
    "Кондратьев",
    "Бирюков",
    "Горбунов",
    "Анисимов",
    "Ерёмин",
    "Тихомиров",
    "Галкин",
    "Лукьянов",
    "Михеев",
    "Скворцов",
    "Юдин",
    "Белоусов",
    "Нестеров",
    "Симонов",
    "Прокофьев",
    "Харитонов",
    "Князев",
    "Цветков",
    "Левин",
    "Митрофанов",
    "Воронов",
    "Аксёнов",
    "Софронов",
    "Мальцев",
    "Логинов",
    "Горшков",
    "Савин",
    "Краснов",
    "Майоров",
    "Демидов",
    "Елисеев",
    "Рыбаков",
    "Сафонов",
    "Плотников",
    "Дёмин",
    "Хохлов",
    "Жданов",
    "Руденко",
    "Шевченко",
    "Бондаренко",
    "Кравченко",
    "Ткаченко",
    "Коваленко",
    "Чайковский",
    "Вишневский",
    "Ковальский",
    "Островский",
    "Шевчук",
    "Полищук",
];

/// Roots and endings for the long tail of rarer surnames.
const ROOTS: &[&str] = &[
    "Бел",
    "Черн",
    "Крас",
    "Твердох",
    "Мороз",
    "Кузьм",
    "Добр",
    "Сух",
    "Глад",
    "Лыс",
    "Рыж",
    "Бор",
    "Лес",
    "Руд",
    "Пол",
    "Гор",
    "Ветл",
    "Сосн",
    "Кедр",
    "Дуб",
    "Лип",
    "Берёз",
    "Калин",
    "Малин",
    "Рябин",
    "Клюк",
    "Овс",
    "Ячм",
    "Гречих",
    "Мельн",
    "Кузн",
    "Плотн",
    "Бондар",
    "Колесн",
    "Гонч",
    "Ткач",
    "Швец",
    "Сапожн",
    "Рыбн",
    "Охотн",
    "Пастух",
    "Звон",
    "Тишин",
    "Громк",
    "Светл",
    "Ясн",
    "Мудр",
    "Смел",
    "Тих",
    "Весел",
];
const ENDINGS: &[&str] = &[
    "ов",
    "ин",
    "ев",
    "анов",
    "ицын",
    "ихин",
    "овский",
    "енко",
    "ников",
    "унов",
];

/// Company names: two words, so that several companies share a name (as
/// they do in different cities).
const COMPANY_A: &[&str] = &[
    "Ромашка",
    "Вектор",
    "Гранит",
    "Альфа",
    "Север",
    "Восток",
    "Меридиан",
    "Старт",
    "Прогресс",
    "Импульс",
    "Орион",
    "Сфера",
    "Атлант",
    "Континент",
    "Эталон",
    "Лидер",
    "Форвард",
    "Горизонт",
    "Сигма",
    "Регион",
    "Магистраль",
    "Капитал",
    "Интеграл",
    "Технология",
];
const COMPANY_B: &[&str] = &[
    "Строй",
    "Трейд",
    "Сервис",
    "Логистик",
    "Групп",
    "Плюс",
    "Инвест",
    "Снаб",
];
const LEGAL: &[&str] = &["ООО", "АО", "ООО", "ООО", "ПАО", "ЗАО"];

const FREE_MAIL: &[&str] = &[
    "gmail.com",
    "yandex.ru",
    "mail.ru",
    "bk.ru",
    "list.ru",
    "inbox.ru",
    "rambler.ru",
];

// ---------------------------------------------------------------- generated base

#[derive(Debug, Clone)]
struct Person {
    given: usize,
    surname: String,
    female: bool,
    patronymic: Option<String>,
    phones: Vec<String>,
    emails: Vec<String>,
    telegram: Option<String>,
    vk: Option<i64>,
}

#[derive(Debug, Clone)]
struct Client {
    external_id: String,
    kind: ClientKind,
    name: String,
    persons: Vec<Person>,
    domain: Option<String>,
    /// Shares its phone or mailbox with many other clients.
    crowded_email: Option<String>,
}

fn surname_form(masc: &str, female: bool) -> String {
    if !female {
        return masc.to_string();
    }
    for (m, f) in [("ский", "ская"), ("цкий", "цкая"), ("ой", "ая")] {
        if let Some(stem) = masc.strip_suffix(m) {
            return format!("{stem}{f}");
        }
    }
    if ["ов", "ев", "ёв", "ин", "ын"]
        .iter()
        .any(|e| masc.ends_with(e))
    {
        return format!("{masc}а");
    }
    masc.to_string()
}

impl Person {
    fn given_name(&self) -> &'static str {
        GIVEN[self.given].0
    }
    fn surname_text(&self) -> String {
        surname_form(&self.surname, self.female)
    }
    /// The person's own mailbox (not an agency's shared one).
    fn own_email(&self) -> Option<String> {
        self.emails
            .iter()
            .find(|e| !e.starts_with("info@agency") && !hard::JUNK_EMAILS.contains(&e.as_str()))
            .cloned()
    }

    /// As stored: «Фамилия Имя Отчество» or «Имя Фамилия».
    fn stored_name(&self) -> String {
        match &self.patronymic {
            Some(p) => format!("{} {} {}", self.surname_text(), self.given_name(), p),
            None => format!("{} {}", self.given_name(), self.surname_text()),
        }
    }
}

/// A passport-style transliteration; `icao` picks the 2013 ICAO scheme
/// (й→i, ю→iu, я→ia), otherwise the common one (й→y, ю→yu, я→ya).
fn translit(s: &str, icao: bool) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let upper = c.is_uppercase();
        let l = c.to_lowercase().next().unwrap_or(c);
        let t: &str = match l {
            'а' => "a",
            'б' => "b",
            'в' => "v",
            'г' => "g",
            'д' => "d",
            'е' | 'ё' | 'э' => "e",
            'ж' => "zh",
            'з' => "z",
            'и' => "i",
            'й' => {
                if icao {
                    "i"
                } else {
                    "y"
                }
            }
            'к' => "k",
            'л' => "l",
            'м' => "m",
            'н' => "n",
            'о' => "o",
            'п' => "p",
            'р' => "r",
            'с' => "s",
            'т' => "t",
            'у' => "u",
            'ф' => "f",
            'х' => "kh",
            'ц' => "ts",
            'ч' => "ch",
            'ш' => "sh",
            'щ' => "shch",
            'ъ' => "",
            'ы' => "y",
            'ь' => "",
            'ю' => {
                if icao {
                    "iu"
                } else {
                    "yu"
                }
            }
            'я' => {
                if icao {
                    "ia"
                } else {
                    "ya"
                }
            }
            other => {
                out.push(other);
                continue;
            }
        };
        if upper {
            let mut cs = t.chars();
            if let Some(f) = cs.next() {
                out.extend(f.to_uppercase());
                out.push_str(cs.as_str());
            }
        } else {
            out.push_str(t);
        }
    }
    out
}

struct Gen {
    rng: StdRng,
    used_phones: HashSet<String>,
    used_logins: HashSet<String>,
    surnames: Vec<String>,
}

impl Gen {
    fn new(seed: u64) -> Gen {
        let mut surnames: Vec<String> = SURNAMES.iter().map(|s| s.to_string()).collect();
        for r in ROOTS {
            for e in ENDINGS {
                surnames.push(format!("{r}{e}"));
            }
        }
        Gen {
            rng: StdRng::seed_from_u64(seed),
            used_phones: HashSet::new(),
            used_logins: HashSet::new(),
            surnames,
        }
    }

    /// Zipf-like: the common surnames come up far more often than the tail.
    fn surname(&mut self) -> String {
        let n = self.surnames.len() as f64;
        let x: f64 = self.rng.gen();
        let idx = ((n + 1.0).powf(x) - 1.0) as usize;
        self.surnames[idx.min(self.surnames.len() - 1)].clone()
    }

    fn mobile(&mut self) -> String {
        loop {
            let n: u64 = self.rng.gen_range(9_000_000_000..9_999_999_999);
            let p = format!("+7{n}");
            if self.used_phones.insert(p.clone()) {
                return p;
            }
        }
    }

    fn office_phone(&mut self) -> String {
        loop {
            let n: u64 = self.rng.gen_range(1_000_000..9_999_999);
            let p = format!("+7495{n}");
            if self.used_phones.insert(p.clone()) {
                return p;
            }
        }
    }

    fn login(&mut self, p: &Person) -> String {
        let g = translit(p.given_name(), false).to_lowercase();
        let s = translit(&p.surname_text(), false).to_lowercase();
        loop {
            let base = match self.rng.gen_range(0..4) {
                0 => format!("{g}.{s}"),
                1 => format!("{}{s}", g.chars().next().unwrap_or('x')),
                2 => format!("{s}.{g}"),
                _ => format!("{g}{s}"),
            };
            let login = if self.rng.gen_bool(0.6) {
                format!("{base}{}", self.rng.gen_range(1..2000))
            } else {
                base
            };
            // Unique as a mailbox: Gmail ignores dots, Yandex folds them
            // to dashes, so two logins differing only there are one box.
            if self.used_logins.insert(login.replace(['.', '-', '_'], "")) {
                return login;
            }
        }
    }

    fn person(&mut self) -> Person {
        let given = self.rng.gen_range(0..GIVEN.len());
        let female = GIVEN[given].1;
        let surname = self.surname();
        let patronymic = self.rng.gen_bool(0.5).then(|| {
            let (m, f) = PATRONYMICS[self.rng.gen_range(0..PATRONYMICS.len())];
            if female { f } else { m }.to_string()
        });
        Person {
            given,
            surname,
            female,
            patronymic,
            phones: Vec::new(),
            emails: Vec::new(),
            telegram: None,
            vk: None,
        }
    }

    /// A private client: a mobile, often a free-mail box, sometimes Telegram.
    fn private_client(&mut self, i: usize) -> Client {
        let mut p = self.person();
        p.phones.push(self.mobile());
        if self.rng.gen_bool(0.15) {
            p.phones.push(self.mobile());
        }
        if self.rng.gen_bool(0.6) {
            let login = self.login(&p);
            let domain = FREE_MAIL[self.rng.gen_range(0..FREE_MAIL.len())];
            p.emails.push(format!("{login}@{domain}"));
        }
        if self.rng.gen_bool(0.2) {
            let login = self.login(&p).replace('.', "_");
            p.telegram = Some(format!("{login}_tg"));
        }
        Client {
            external_id: format!("p-{i}"),
            kind: ClientKind::Person,
            name: p.stored_name(),
            persons: vec![p],
            domain: None,
            crowded_email: None,
        }
    }

    /// A company: a corporate domain, an office phone, one to three persons.
    fn company_client(&mut self, i: usize) -> Client {
        let a = COMPANY_A[self.rng.gen_range(0..COMPANY_A.len())];
        let b = COMPANY_B[self.rng.gen_range(0..COMPANY_B.len())];
        let legal = LEGAL[self.rng.gen_range(0..LEGAL.len())];
        let name = format!("{legal} «{a}{}»", b.to_lowercase());
        let domain = format!(
            "{}{}-{i}.ru",
            translit(a, false).to_lowercase(),
            translit(b, false).to_lowercase()
        );
        let office = self.office_phone();
        let n = self.rng.gen_range(1..=3);
        let mut persons = Vec::new();
        for k in 0..n {
            let mut p = self.person();
            p.phones.push(self.mobile());
            if k == 0 {
                p.phones.push(office.clone());
            }
            let login = self.login(&p);
            p.emails.push(format!("{login}@{domain}"));
            persons.push(p);
        }
        Client {
            external_id: format!("c-{i}"),
            kind: ClientKind::Company,
            name,
            persons,
            domain: Some(domain),
            crowded_email: None,
        }
    }

    fn base(&mut self, n: usize) -> Vec<Client> {
        let mut clients: Vec<Client> = (0..n)
            .map(|i| {
                if self.rng.gen_bool(0.15) {
                    self.company_client(i)
                } else {
                    self.private_client(i)
                }
            })
            .collect();
        // Coworking and family phones: a number two or three private
        // clients share.
        let private: Vec<usize> = (0..clients.len())
            .filter(|&i| clients[i].kind == ClientKind::Person)
            .collect();
        let shared_groups = private.len() / 40;
        for _ in 0..shared_groups {
            let phone = self.office_phone();
            let k = self.rng.gen_range(2..=3);
            for &i in private.choose_multiple(&mut self.rng, k) {
                clients[i].persons[0].phones.push(phone.clone());
            }
        }
        // Agencies that give their own info@ mailbox for their clients.
        for g in 0..(private.len() / 500).max(1) {
            let mailbox = format!("info@agency{g}.ru");
            let k = self.rng.gen_range(20..=80);
            for &i in private.choose_multiple(&mut self.rng, k) {
                clients[i].persons[0].emails.push(mailbox.clone());
                clients[i].crowded_email = Some(mailbox.clone());
            }
        }
        clients
    }
}

// ---------------------------------------------------------------- appeals

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Truth {
    /// From this client (index into the base).
    Client(usize),
    /// From somebody the base does not know.
    New,
    /// From a new person the stream has seen before (hard set): the
    /// client created for their first appeal, if any, else new.
    Fresh(usize),
}

#[derive(Debug, Clone)]
struct Appeal {
    variation: &'static str,
    /// The data alone can decide it (otherwise review or new are both fine).
    decidable: bool,
    truth: Truth,
    card: ContactCard,
}

/// Every variation the benchmark generates, with its weight and whether the
/// data decides it.
const VARIATIONS: &[(&str, u32, bool)] = &[
    ("repeat", 10, true),
    ("phone_format", 12, true),
    ("email_canonical", 10, true),
    ("diminutive", 10, true),
    ("translit", 8, true),
    ("surname_typo", 8, true),
    ("name_order", 6, true),
    ("messenger", 4, true),
    ("shared_office_phone", 5, true),
    ("colleague", 6, true),
    ("new_person", 12, true),
    ("namesake", 8, true),
    ("only_name", 3, false),
    ("known_name_new_number", 3, false),
    ("known_number_other_name", 3, false),
    ("agency_mailbox", 2, false),
];

fn phone_format(rng: &mut StdRng, e164: &str) -> String {
    let d = e164.trim_start_matches("+7");
    if d.len() != 10 {
        return e164.to_string();
    }
    let (a, b, c, e) = (&d[0..3], &d[3..6], &d[6..8], &d[8..10]);
    match rng.gen_range(0..6) {
        0 => format!("8 ({a}) {b}-{c}-{e}"),
        1 => format!("+7 {a} {b} {c} {e}"),
        2 => format!("8{d}"),
        3 => format!("7-{a}-{b}-{c}{e}"),
        4 => format!("+7({a}){b}{c}{e}"),
        _ => d.to_string(),
    }
}

/// Another spelling of the same mailbox.
fn email_variant(rng: &mut StdRng, email: &str) -> String {
    let Some((local, domain)) = email.split_once('@') else {
        return email.to_string();
    };
    match domain {
        "gmail.com" => {
            let mut l: String = local.replace('.', "");
            if l.len() > 3 && rng.gen_bool(0.5) {
                l.insert(rng.gen_range(1..l.len() - 1), '.');
            }
            let tag = if rng.gen_bool(0.5) { "+shop" } else { "" };
            let d = if rng.gen_bool(0.3) {
                "googlemail.com"
            } else {
                "gmail.com"
            };
            format!("{l}{tag}@{d}")
        }
        "yandex.ru" => {
            let l = local.replace('.', "-");
            let d = ["ya.ru", "yandex.com", "yandex.ru", "yandex.by"][rng.gen_range(0..4)];
            format!("{l}@{d}")
        }
        _ => {
            if rng.gen_bool(0.5) {
                email.to_uppercase()
            } else {
                format!(" {} ", capitalise(local) + "@" + domain)
            }
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => f.to_uppercase().chain(cs).collect(),
        None => String::new(),
    }
}

/// One typo in a surname (never the first letter): a swap, a dropped or a
/// doubled letter, or a neighbour on the keyboard.
fn typo(rng: &mut StdRng, s: &str) -> String {
    let mut cs: Vec<char> = s.chars().collect();
    if cs.len() < 5 {
        return s.to_string();
    }
    let i = rng.gen_range(1..cs.len() - 1);
    match rng.gen_range(0..4) {
        0 => cs.swap(i, i + 1),
        1 => {
            cs.remove(i);
        }
        2 => {
            let c = cs[i];
            cs.insert(i, c);
        }
        _ => {
            const NEAR: &[(char, char)] = &[
                ('а', 'о'),
                ('о', 'а'),
                ('е', 'и'),
                ('и', 'е'),
                ('в', 'ф'),
                ('н', 'м'),
                ('к', 'г'),
                ('с', 'з'),
                ('л', 'д'),
                ('р', 'п'),
                ('т', 'д'),
            ];
            if let Some(&(_, to)) = NEAR.iter().find(|(from, _)| *from == cs[i]) {
                cs[i] = to;
            } else {
                cs.swap(i, i + 1);
            }
        }
    }
    cs.into_iter().collect()
}

impl Gen {
    fn pick_client(&mut self, base: &[Client], pred: impl Fn(&Client) -> bool) -> usize {
        loop {
            let i = self.rng.gen_range(0..base.len());
            if pred(&base[i]) {
                return i;
            }
        }
    }

    /// The person's name as they might sign: full, «Имя Фамилия», or the
    /// given name only.
    fn signed_name(&mut self, p: &Person) -> String {
        match self.rng.gen_range(0..4) {
            0 => p.stored_name(),
            1 => format!("{} {}", p.given_name(), p.surname_text()),
            2 => format!("{} {}", p.surname_text(), p.given_name()),
            _ => p.given_name().to_string(),
        }
    }

    fn appeal(&mut self, base: &[Client]) -> Appeal {
        let total: u32 = VARIATIONS.iter().map(|v| v.1).sum();
        let mut roll = self.rng.gen_range(0..total);
        let &(variation, _, decidable) = VARIATIONS
            .iter()
            .find(|v| {
                if roll < v.1 {
                    true
                } else {
                    roll -= v.1;
                    false
                }
            })
            .unwrap_or(&VARIATIONS[0]);
        let mut card = ContactCard::default();
        let truth;
        match variation {
            "repeat" => {
                let i = self.pick_client(base, |_| true);
                let p = &base[i].persons[0];
                card.name = Some(p.stored_name());
                card.phones = p.phones.iter().take(1).cloned().collect();
                card.emails = p.emails.iter().take(1).cloned().collect();
                truth = Truth::Client(i);
            }
            "phone_format" => {
                let i = self.pick_client(base, |_| true);
                let p = base[i].persons[0].clone();
                card.phones = vec![phone_format(&mut self.rng, &p.phones[0])];
                if self.rng.gen_bool(0.6) {
                    card.name = Some(self.signed_name(&p));
                }
                truth = Truth::Client(i);
            }
            "email_canonical" => {
                let i = self.pick_client(base, |c| c.persons[0].own_email().is_some());
                let p = base[i].persons[0].clone();
                let own = p.own_email().unwrap_or_default();
                card.emails = vec![email_variant(&mut self.rng, &own)];
                if self.rng.gen_bool(0.5) {
                    card.name = Some(self.signed_name(&p));
                }
                truth = Truth::Client(i);
            }
            "diminutive" => {
                let i = self.pick_client(base, |c| !GIVEN[c.persons[0].given].2.is_empty());
                let p = base[i].persons[0].clone();
                let short = GIVEN[p.given].2;
                let dim = short[self.rng.gen_range(0..short.len())];
                card.name = Some(format!("{dim} {}", p.surname_text()));
                card.phones = vec![phone_format(&mut self.rng, &p.phones[0])];
                truth = Truth::Client(i);
            }
            "translit" => {
                let i = self.pick_client(base, |_| true);
                let p = base[i].persons[0].clone();
                let latin = GIVEN[p.given].3;
                let g = latin[self.rng.gen_range(0..latin.len())];
                let icao = self.rng.gen_bool(0.5);
                card.name = Some(format!("{g} {}", translit(&p.surname_text(), icao)));
                match p.own_email() {
                    Some(e) if self.rng.gen_bool(0.5) => card.emails = vec![e],
                    _ => card.phones = vec![p.phones[0].clone()],
                }
                truth = Truth::Client(i);
            }
            "surname_typo" => {
                let i = self.pick_client(base, |c| c.persons[0].surname.chars().count() >= 6);
                let p = base[i].persons[0].clone();
                let s = typo(&mut self.rng, &p.surname_text());
                card.name = Some(format!("{} {s}", p.given_name()));
                card.phones = vec![phone_format(&mut self.rng, &p.phones[0])];
                truth = Truth::Client(i);
            }
            "name_order" => {
                let i = self.pick_client(base, |c| c.persons[0].patronymic.is_some());
                let p = base[i].persons[0].clone();
                let pat = p.patronymic.clone().unwrap_or_default();
                card.name = Some(match self.rng.gen_range(0..3) {
                    0 => format!("{} {pat} {}", p.given_name(), p.surname_text()),
                    1 => format!("{} {}", p.given_name(), p.surname_text()),
                    _ => format!(
                        "{} {}.{}.",
                        p.surname_text(),
                        first(p.given_name()),
                        first(&pat)
                    ),
                });
                match p.own_email() {
                    Some(e) if self.rng.gen_bool(0.5) => card.emails = vec![e],
                    _ => card.phones = vec![p.phones[0].clone()],
                }
                truth = Truth::Client(i);
            }
            "messenger" => {
                let i = self.pick_client(base, |c| c.persons[0].telegram.is_some());
                let p = base[i].persons[0].clone();
                card.name = Some(p.given_name().to_string());
                card.telegram = Some(TelegramContact {
                    id: None,
                    username: p.telegram.map(|t| format!("@{t}")),
                });
                truth = Truth::Client(i);
            }
            "shared_office_phone" => {
                // A number that two or three clients share (coworking,
                // family), or a company's office line; the name tells.
                let i = self.pick_client(base, |c| c.persons[0].phones.len() > 1);
                let p = base[i].persons[0].clone();
                let last = p.phones.last().cloned().unwrap_or_default();
                card.phones = vec![phone_format(&mut self.rng, &last)];
                card.name = Some(match self.rng.gen_range(0..2) {
                    0 => p.stored_name(),
                    _ => format!("{} {}", p.given_name(), p.surname_text()),
                });
                truth = Truth::Client(i);
            }
            "colleague" => {
                let i = self.pick_client(base, |c| c.domain.is_some());
                let domain = base[i].domain.clone().unwrap_or_default();
                let p = self.person();
                let login = self.login(&p);
                card.name = Some(self.signed_name(&p));
                card.emails = vec![format!("{login}@{domain}")];
                if self.rng.gen_bool(0.5) {
                    card.phones = vec![self.mobile()];
                }
                if self.rng.gen_bool(0.3) {
                    card.company = Some(base[i].name.clone());
                }
                truth = Truth::Client(i);
            }
            "new_person" => {
                let p = self.person();
                card.name = Some(self.signed_name(&p));
                card.phones = vec![self.mobile()];
                if self.rng.gen_bool(0.4) {
                    let login = self.login(&p);
                    card.emails = vec![format!("{login}@gmail.com")];
                }
                truth = Truth::New;
            }
            "namesake" => {
                // Same full name as somebody known, another phone and mailbox.
                let i = self.pick_client(base, |c| c.kind == ClientKind::Person);
                let p = base[i].persons[0].clone();
                card.name = Some(p.stored_name());
                card.phones = vec![self.mobile()];
                if self.rng.gen_bool(0.4) {
                    let login = self.login(&p);
                    card.emails = vec![format!("{login}@mail.ru")];
                }
                truth = Truth::New;
            }
            "only_name" => {
                let i = self.pick_client(base, |_| true);
                card.name = Some(base[i].persons[0].stored_name());
                truth = Truth::Client(i);
            }
            "known_name_new_number" => {
                let i = self.pick_client(base, |_| true);
                card.name = Some(base[i].persons[0].stored_name());
                card.phones = vec![self.mobile()];
                truth = Truth::Client(i);
            }
            "known_number_other_name" => {
                let i = self.pick_client(base, |c| c.kind == ClientKind::Person);
                // Clearly another person: another given name.
                let mut other = self.person();
                while other.given == base[i].persons[0].given {
                    other = self.person();
                }
                card.name = Some(other.stored_name());
                card.phones = vec![base[i].persons[0].phones[0].clone()];
                truth = Truth::New;
            }
            _ => {
                // agency_mailbox: a client writes from the agency's info@.
                let i = self.pick_client(base, |c| c.crowded_email.is_some());
                let p = base[i].persons[0].clone();
                card.name = Some(p.stored_name());
                card.emails = base[i].crowded_email.iter().cloned().collect();
                truth = Truth::Client(i);
            }
        }
        Appeal {
            variation,
            decidable,
            truth,
            card,
        }
    }
}

fn first(s: &str) -> char {
    s.chars().next().unwrap_or('X')
}

// ---------------------------------------------------------------- run

#[derive(Debug, Default, Clone)]
struct Row {
    n: usize,
    linked_ok: usize,
    linked_wrong: usize,
    review: usize,
    new: usize,
    auto: usize,
    decidable: usize,
    decidable_review: usize,
    known: usize,
    missed: usize,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("leadgate-quality-{}", std::process::id()));
    std::fs::create_dir_all(&dir).context("temp dir")?;
    let url = match &args.db {
        Some(u) => u.clone(),
        None => format!("sqlite://{}", dir.join("quality.db").display()),
    };
    let store = Store::connect(&DatabaseSettings {
        url: url.clone(),
        max_connections: 4,
        sqlite_synchronous: SqliteSync::Normal,
        ..DatabaseSettings::default()
    })
    .await?;
    store.migrate().await?;
    let settings = MatchingSettings::default();

    let hard_set = args.set == Set::Hard;
    let (n_clients, n_appeals) = match args.set {
        Set::Basic => (
            args.clients.unwrap_or(20_000),
            args.appeals.unwrap_or(20_000),
        ),
        Set::Hard => (
            args.clients.unwrap_or(30_000),
            args.appeals.unwrap_or(6_000),
        ),
    };
    let mut gen = Gen::new(args.seed);
    let mut hard_state = hard::HardState::default();
    let started = Instant::now();
    let base = match args.set {
        Set::Basic => gen.base(n_clients),
        Set::Hard => gen.hard_base(n_clients, &mut hard_state),
    };
    let imported: Vec<ImportedClient> = base.iter().map(to_import).collect();
    for chunk in imported.chunks(2000) {
        store.import_batch(chunk).await?;
    }
    let ids: HashMap<String, i64> = sqlx::query_as::<_, (String, i64)>(
        "SELECT external_id, id FROM clients WHERE external_id IS NOT NULL",
    )
    .fetch_all(store.pool())
    .await?
    .into_iter()
    .collect();
    let client_id = |i: usize| ids.get(&base[i].external_id).copied();
    println!(
        "base: {} clients ({} companies) imported into {} in {:.1}s",
        base.len(),
        base.iter()
            .filter(|c| c.kind == ClientKind::Company)
            .count(),
        if args.db.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        started.elapsed().as_secs_f64()
    );

    let appeals: Vec<Appeal> = (0..n_appeals)
        .map(|_| match args.set {
            Set::Basic => gen.appeal(&base),
            Set::Hard => gen.hard_appeal(&base, &mut hard_state),
        })
        .collect();
    let families: &[(&str, u32, bool)] = match args.set {
        Set::Basic => VARIATIONS,
        Set::Hard => hard::FAMILIES,
    };
    // Hard set: clients the run created, as the pipeline would, for new
    // people (and for known ones it missed), by who they really are.
    let mut created: HashMap<usize, i64> = HashMap::new();
    let mut created_for: HashMap<i64, Truth> = HashMap::new();
    let mut rows: BTreeMap<&'static str, Row> = BTreeMap::new();
    let mut errors: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let (mut auto, mut wrong_auto) = (0usize, 0usize);
    let (mut known, mut missed) = (0usize, 0usize);
    let (mut decidable, mut reviews) = (0usize, 0usize);
    let mut matching_time = Duration::ZERO;
    let mut conn = store.pool().acquire().await?;
    for a in &appeals {
        let normalized = a.card.normalize(Region::Ru);
        let probe = Probe::new(&a.card, &normalized, &settings.junk);
        let t = Instant::now();
        let d = leadgate_store::match_appeal(&store, &mut conn, &probe, &settings).await?;
        matching_time += t.elapsed();
        let truth_id = match a.truth {
            Truth::Client(i) => client_id(i),
            Truth::New => None,
            Truth::Fresh(k) => created.get(&k).copied(),
        };
        let row = rows.entry(a.variation).or_default();
        row.n += 1;
        let mut wrong = false;
        if hard_set && d.kind == DecisionKind::NewClient {
            let id = create_client(&store, &a.card, created_for.len()).await?;
            if let Truth::Fresh(k) = a.truth {
                created.entry(k).or_insert(id);
            }
            created_for.insert(id, a.truth);
        }
        // A duplicate the run created for the same person is that person.
        let same_person = |id: Option<i64>| {
            id.and_then(|id| created_for.get(&id))
                .is_some_and(|t| *t == a.truth && !matches!(a.truth, Truth::New))
        };
        match d.kind {
            DecisionKind::ExistingClient => {
                auto += 1;
                row.auto += 1;
                if d.client_id.is_some() && (d.client_id == truth_id || same_person(d.client_id)) {
                    row.linked_ok += 1;
                } else {
                    row.linked_wrong += 1;
                    wrong_auto += 1;
                    wrong = true;
                }
            }
            DecisionKind::Review => {
                row.review += 1;
                wrong = a.decidable;
            }
            DecisionKind::NewClient => {
                row.new += 1;
                wrong = a.decidable && truth_id.is_some();
            }
        }
        if a.decidable {
            decidable += 1;
            row.decidable += 1;
            if d.kind == DecisionKind::Review {
                reviews += 1;
                row.decidable_review += 1;
            }
            if truth_id.is_some() {
                known += 1;
                row.known += 1;
                if d.kind == DecisionKind::NewClient {
                    missed += 1;
                    row.missed += 1;
                }
            }
        }
        if wrong && args.show_errors > 0 {
            let list = errors.entry(a.variation).or_default();
            if list.len() < args.show_errors {
                let truth = match a.truth {
                    Truth::Client(i) => format!(
                        "{:?} {:?}",
                        client_id(i),
                        base[i]
                            .persons
                            .iter()
                            .map(|p| p.stored_name())
                            .collect::<Vec<_>>()
                    ),
                    Truth::New => "new".into(),
                    Truth::Fresh(k) => format!("new person {k}, client {truth_id:?}"),
                };
                list.push(format!(
                    "card {:?}\n      truth {truth}\n      got {} {:?} score {:?}: {}\n      evidence {:?}",
                    a.card,
                    d.kind.as_str(),
                    d.client_id,
                    d.score,
                    d.reason,
                    d.evidence
                        .iter()
                        .map(|e| format!("{}:{}:{:?}:{}", e.client_id, e.field.as_str(), e.how, e.weight))
                        .collect::<Vec<_>>()
                ));
            }
        }
    }
    drop(conn);

    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            100.0 * a as f64 / b as f64
        }
    };
    let false_merge = pct(wrong_auto, auto);
    let missed_rate = pct(missed, known);
    let review_rate = pct(reviews, decidable);
    println!(
        "appeals: {} ({} decidable by the data, {} from known clients among them); \
         matching {:.3} ms per appeal on average",
        appeals.len(),
        decidable,
        known,
        matching_time.as_secs_f64() * 1000.0 / appeals.len().max(1) as f64
    );
    println!();
    println!(
        "{:<28} {:>6} {:>9} {:>6} {:>7} {:>6} {:>8} {:>8} {:>8}",
        "variation", "n", "linked ok", "WRONG", "review", "new", "false m.", "missed", "review"
    );
    let rate = |a: usize, b: usize| {
        if b == 0 {
            "-".to_string()
        } else {
            format!("{:.1} %", 100.0 * a as f64 / b as f64)
        }
    };
    for (name, r) in &rows {
        let decides = families.iter().find(|v| v.0 == *name).is_some_and(|v| v.2);
        println!(
            "{:<28} {:>6} {:>9} {:>6} {:>7} {:>6} {:>8} {:>8} {:>8}",
            format!("{name}{}", if decides { "" } else { " *" }),
            r.n,
            r.linked_ok,
            r.linked_wrong,
            r.review,
            r.new,
            rate(r.linked_wrong, r.auto),
            rate(r.missed, r.known),
            rate(r.decidable_review, r.decidable),
        );
    }
    println!(
        "(false m. = wrong auto-links / auto-links; missed = new clients / decidable appeals \
         from known people; review = reviews / decidable appeals)"
    );
    println!("(* ambiguous: the data alone cannot decide; review or new are both right)");
    println!();
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    let fm_ok = false_merge <= 0.1;
    let md_ok = missed_rate <= 1.0;
    let rv_ok = review_rate <= 5.0;
    println!(
        "false merges:       {wrong_auto} of {auto} auto-links = {false_merge:.3} % (target <= 0.1 %) {}",
        verdict(fm_ok)
    );
    println!(
        "missed duplicates:  {missed} of {known} = {missed_rate:.3} % (target <= 1 %) {}",
        verdict(md_ok)
    );
    println!(
        "review rate:        {reviews} of {decidable} = {review_rate:.3} % (target <= 5 %) {}",
        verdict(rv_ok)
    );
    for (name, list) in &errors {
        println!("\n-- {name}");
        for e in list {
            println!("  * {e}");
        }
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    if args.check && !(fm_ok && md_ok && rv_ok) {
        anyhow::bail!("a quality target was missed");
    }
    Ok(())
}

/// What the pipeline does with a new client's appeal: a client with the
/// appeal's contact person and points. Returns its id.
async fn create_client(store: &Store, card: &ContactCard, n: usize) -> anyhow::Result<i64> {
    let external_id = format!("run-{n}");
    let person = card
        .display_name()
        .map(str::to_string)
        .unwrap_or_else(|| "Без имени".to_string());
    let (kind, name) = match card.company.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(c) => (ClientKind::Company, c.to_string()),
        None => (ClientKind::Person, person.clone()),
    };
    store
        .import_batch(&[ImportedClient {
            external_id: external_id.clone(),
            kind,
            name,
            responsible: None,
            imported_responsible: None,
            inn: None,
            persons: vec![ImportedPerson {
                name: person,
                keys: card.normalize(Region::Ru).keys,
                dropped: Vec::new(),
            }],
        }])
        .await?;
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM clients WHERE external_id = $1")
        .bind(&external_id)
        .fetch_one(store.pool())
        .await?;
    Ok(id)
}

fn to_import(c: &Client) -> ImportedClient {
    ImportedClient {
        external_id: c.external_id.clone(),
        kind: c.kind,
        name: c.name.clone(),
        responsible: None,
        imported_responsible: None,
        inn: None,
        persons: c
            .persons
            .iter()
            .map(|p| {
                let card = ContactCard {
                    phones: p.phones.clone(),
                    emails: p.emails.clone(),
                    telegram: p.telegram.as_ref().map(|t| TelegramContact {
                        id: None,
                        username: Some(t.clone()),
                    }),
                    vk: p.vk.map(|id| VkContact {
                        id: Some(id),
                        screen_name: None,
                    }),
                    ..ContactCard::default()
                };
                ImportedPerson {
                    name: p.stored_name(),
                    keys: card.normalize(Region::Ru).keys,
                    dropped: Vec::new(),
                }
            })
            .collect(),
    }
}
