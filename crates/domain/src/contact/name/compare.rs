//! Whether two names can belong to one person.

use super::{canonical_given_names, surname_key, translit_key, PersonName};

/// Strings are compared on at most this many characters; names are shorter,
/// and the cap keeps the similarity functions allocation-free.
const MAX_COMPARE_CHARS: usize = 64;

/// [`surname_similarity`] at or above this means "the same surname up to
/// one typo and the gender ending".
pub const SURNAME_MATCH: f64 = 0.9;

/// Jaro–Winkler similarity in `[0, 1]` (prefix scale 0.1, prefix up to 4),
/// on characters, without allocating.
pub fn jaro_winkler(a: &str, b: &str) -> f64 {
    let mut ab = ['\0'; MAX_COMPARE_CHARS];
    let mut bb = ['\0'; MAX_COMPARE_CHARS];
    let la = fill(&mut ab, a);
    let lb = fill(&mut bb, b);
    let (a, b) = (&ab[..la], &bb[..lb]);
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let window = (la.max(lb) / 2).saturating_sub(1);
    let mut a_matched = [false; MAX_COMPARE_CHARS];
    let mut b_matched = [false; MAX_COMPARE_CHARS];
    let mut matches = 0usize;
    for (i, &ca) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(lb);
        for j in lo..hi {
            if !b_matched[j] && b[j] == ca {
                a_matched[i] = true;
                b_matched[j] = true;
                matches += 1;
                break;
            }
        }
    }
    if matches == 0 {
        return 0.0;
    }
    let mut transpositions = 0usize;
    let mut j = 0;
    for (i, &ca) in a.iter().enumerate() {
        if !a_matched[i] {
            continue;
        }
        while j < lb && !b_matched[j] {
            j += 1;
        }
        if j < lb && b[j] != ca {
            transpositions += 1;
        }
        j += 1;
    }
    let m = matches as f64;
    let t = (transpositions / 2) as f64;
    let jaro = (m / la as f64 + m / lb as f64 + (m - t) / m) / 3.0;
    let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count();
    jaro + prefix as f64 * 0.1 * (1.0 - jaro)
}

fn fill(buf: &mut [char; MAX_COMPARE_CHARS], s: &str) -> usize {
    let mut n = 0;
    for c in s.chars().take(MAX_COMPARE_CHARS) {
        buf[n] = c;
        n += 1;
    }
    n
}

/// Whether `a` becomes `b` with at most one insertion, deletion,
/// substitution or swap of neighbours: the typos people make.
fn within_one_edit(a: &[u8], b: &[u8]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if prefix == short.len() {
        return true;
    }
    if short.len() == long.len() {
        let rest = prefix + 1;
        if short[rest..] == long[rest..] {
            return true;
        }
        // adjacent swap
        return rest < short.len()
            && short[prefix] == long[rest]
            && short[rest] == long[prefix]
            && short[rest + 1..] == long[rest + 1..];
    }
    short[prefix..] == long[prefix + 1..]
}

/// Similarity of two surnames in `[0, 1]`, in any script and spelling.
///
/// Computed on [`surname_key`]s, so transliteration and the gender ending
/// (Петров/Petrova) cost nothing: 1.0. One typo (insertion, deletion,
/// substitution, swap) in surnames of 4+ letters scores at least
/// [`SURNAME_MATCH`]; anything further apart is Jaro–Winkler capped just
/// below it, so the threshold means "same up to one typo".
pub fn surname_similarity(a: &str, b: &str) -> f64 {
    surname_key_similarity(&surname_key(a), &surname_key(b))
}

fn surname_key_similarity(ka: &str, kb: &str) -> f64 {
    if ka.is_empty() || kb.is_empty() {
        return 0.0;
    }
    if ka == kb {
        return 1.0;
    }
    let jw = jaro_winkler(ka, kb);
    if ka.len().min(kb.len()) >= 4 && within_one_edit(ka.as_bytes(), kb.as_bytes()) {
        jw.max(SURNAME_MATCH)
    } else {
        jw.min(SURNAME_MATCH - 0.01)
    }
}

/// How one part of two names (given name, surname, patronymic) compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartAgreement {
    /// Written the same (after case and ё folding).
    Equal,
    /// Different spelling of the same: diminutive, transliteration, typo,
    /// initial consistent with the full form.
    Compatible,
    /// Both present and irreconcilable.
    Different,
    /// Present on one side only.
    Missing,
    /// Present on neither side.
    Absent,
}

impl PartAgreement {
    fn agrees(self) -> bool {
        matches!(self, PartAgreement::Equal | PartAgreement::Compatible)
    }
}

/// Verdict on whether two names can be one person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameAgreement {
    /// Every part present on either side is present on both and equal.
    Exact,
    /// Nothing contradicts and both surname and given name (or its initial)
    /// agree, allowing diminutives, transliteration, typos and missing
    /// parts such as the patronymic.
    Compatible,
    /// The surnames agree; the given name is missing on one side.
    SurnameOnly,
    /// The given names agree; a surname is missing on one side or differs
    /// (a typo beyond one letter, or a changed surname after marriage).
    GivenOnly,
    /// Clearly different people: different gender, given names that are
    /// not forms of one another, different patronymics, or different
    /// surnames with nothing else to go on.
    Conflict,
    /// One side is empty, or the two have no part in common to compare.
    Unknown,
}

/// Part-by-part comparison of two names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameComparison {
    pub surname: PartAgreement,
    pub given: PartAgreement,
    pub patronymic: PartAgreement,
    /// Both genders known and different.
    pub gender_conflict: bool,
}

impl NameComparison {
    pub fn of(a: &PersonName, b: &PersonName) -> NameComparison {
        let gender_conflict = matches!((a.gender(), b.gender()), (Some(x), Some(y)) if x != y);
        let (ka, kb) = (&a.keys, &b.keys);
        NameComparison {
            surname: compare_part((a.surname(), None), (b.surname(), None), || {
                surname_key_similarity(&ka.surname, &kb.surname) >= SURNAME_MATCH
            }),
            given: compare_part(
                (a.given(), a.given_initial),
                (b.given(), b.given_initial),
                || {
                    given_names_agree(
                        (ka.given_canonical, &ka.given),
                        (kb.given_canonical, &kb.given),
                    )
                },
            ),
            patronymic: compare_part(
                (a.patronymic(), a.patronymic_initial),
                (b.patronymic(), b.patronymic_initial),
                || keys_agree(&ka.patronymic, &kb.patronymic, 6),
            ),
            gender_conflict,
        }
    }

    pub fn agreement(&self) -> NameAgreement {
        use PartAgreement::*;
        let parts = [self.surname, self.given, self.patronymic];
        if parts.iter().all(|p| matches!(p, Missing | Absent)) {
            return NameAgreement::Unknown;
        }
        if self.gender_conflict || self.given == Different || self.patronymic == Different {
            return NameAgreement::Conflict;
        }
        if parts.iter().all(|p| matches!(p, Equal | Absent)) {
            return NameAgreement::Exact;
        }
        match (self.surname, self.given) {
            (s, g) if s.agrees() && g.agrees() => NameAgreement::Compatible,
            (s, _) if s.agrees() => NameAgreement::SurnameOnly,
            (Different, g) if g.agrees() => NameAgreement::GivenOnly,
            (Different, _) => NameAgreement::Conflict,
            (_, g) if g.agrees() => NameAgreement::GivenOnly,
            _ => NameAgreement::Unknown,
        }
    }
}

/// Compare two names: the verdict of [`NameComparison::of`].
pub fn compare(a: &PersonName, b: &PersonName) -> NameAgreement {
    NameComparison::of(a, b).agreement()
}

/// Compare one part given as (full form, initial) on each side; `agree`
/// decides between two full forms that are not written the same.
fn compare_part(
    (a, a_initial): (Option<&str>, Option<char>),
    (b, b_initial): (Option<&str>, Option<char>),
    agree: impl FnOnce() -> bool,
) -> PartAgreement {
    match (a, b) {
        // Parts are stored normalised (case, ё), so plain equality is
        // equality up to those.
        (Some(x), Some(y)) if x == y => PartAgreement::Equal,
        (Some(_), Some(_)) if agree() => PartAgreement::Compatible,
        (Some(_), Some(_)) => PartAgreement::Different,
        (Some(full), None) => initial_vs_full(b_initial, full),
        (None, Some(full)) => initial_vs_full(a_initial, full),
        (None, None) => match (a_initial, b_initial) {
            (Some(x), Some(y)) if x == y => PartAgreement::Equal,
            (Some(x), Some(y)) if initial_symbol(x) == initial_symbol(y) => {
                PartAgreement::Compatible
            }
            (Some(_), Some(_)) => PartAgreement::Different,
            (Some(_), None) | (None, Some(_)) => PartAgreement::Missing,
            (None, None) => PartAgreement::Absent,
        },
    }
}

fn initial_vs_full(initial: Option<char>, full: &str) -> PartAgreement {
    let Some(initial) = initial else {
        return PartAgreement::Missing;
    };
    let upper = |s: &str| s.chars().next().and_then(|c| c.to_uppercase().next());
    let sym = initial_symbol(initial);
    let consistent = |name: &str| upper(name) == Some(initial) || first_symbol(name) == sym;
    if consistent(full) || canonical_given_names(full).iter().any(|n| consistent(n)) {
        PartAgreement::Compatible
    } else {
        PartAgreement::Different
    }
}

fn first_symbol(s: &str) -> Option<char> {
    translit_key(s).chars().next()
}

fn initial_symbol(c: char) -> Option<char> {
    first_symbol(c.encode_utf8(&mut [0; 4]))
}

/// Given names agree when they share a full form (Саша/Александр,
/// Наталия/Наталья, Sergey/Сергей), have one transliteration key, or, when
/// at least one is outside the dictionary, differ by one typo in names of
/// five or more letters. Each side is (canonical names, translit key).
fn given_names_agree((ca, ka): (&[&'static str], &str), (cb, kb): (&[&'static str], &str)) -> bool {
    if ca.iter().any(|n| cb.contains(n)) {
        return true;
    }
    // Two known, different names are not a typo of each other (Мария and
    // Марина are one letter apart).
    if !ca.is_empty() && !cb.is_empty() {
        return false;
    }
    keys_agree(ka, kb, 5)
}

/// Equal keys, or one typo apart when both have at least `min_len` symbols.
/// Empty keys (names in scripts we cannot key) agree with nothing.
fn keys_agree(ka: &str, kb: &str, min_len: usize) -> bool {
    if ka.is_empty() || kb.is_empty() {
        return false;
    }
    ka == kb || (ka.len().min(kb.len()) >= min_len && within_one_edit(ka.as_bytes(), kb.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> NameAgreement {
        compare(&PersonName::parse(a), &PersonName::parse(b))
    }

    #[test]
    fn jaro_winkler_reference_values() {
        let close = |a, b, want: f64| {
            let got = jaro_winkler(a, b);
            assert!((got - want).abs() < 1e-3, "{a}/{b}: {got} vs {want}");
        };
        close("MARTHA", "MARHTA", 0.961);
        close("DWAYNE", "DUANE", 0.84);
        close("DIXON", "DICKSONX", 0.813);
        close("", "", 1.0);
        close("abc", "", 0.0);
        close("Иванов", "Иванов", 1.0);
        assert!(jaro_winkler("Иванов", "Ивановa") > 0.9);
        let long = "я".repeat(1000);
        assert!(jaro_winkler(&long, &long) > 0.99);
    }

    #[test]
    fn one_edit() {
        assert!(within_one_edit(b"ivanov", b"ivanov"));
        assert!(within_one_edit(b"ivanov", b"ivnaov"));
        assert!(within_one_edit(b"ivanov", b"ivanovv"));
        assert!(within_one_edit(b"ivanov", b"ivaov"));
        assert!(!within_one_edit(b"ivanov", b"vinaov"));
        assert!(!within_one_edit(b"ivanov", b"petrov"));
        assert!(within_one_edit(b"", b"a"));
        assert!(!within_one_edit(b"", b"ab"));
    }

    #[test]
    fn surname_similarity_tolerates_gender_script_and_one_typo() {
        assert_eq!(surname_similarity("Петрова", "Petrov"), 1.0);
        assert_eq!(surname_similarity("Кузнецова", "Kuznetsov"), 1.0);
        assert!(surname_similarity("Иванов", "Иваонв") >= SURNAME_MATCH);
        assert!(surname_similarity("Кузнецов", "Кузнецв") >= SURNAME_MATCH);
        assert!(surname_similarity("Иванов", "Петров") < SURNAME_MATCH);
        assert!(surname_similarity("Смирнов", "Соколов") < SURNAME_MATCH);
        assert!(surname_similarity("Иванов", "Ивановский") < SURNAME_MATCH);
        assert_eq!(surname_similarity("", "Иванов"), 0.0);
    }

    #[test]
    fn exact_and_compatible() {
        use NameAgreement::*;
        assert_eq!(cmp("Иванов Иван Иванович", "иванов иван иванович"), Exact);
        assert_eq!(cmp("Иванов Иван", "Иван Иванов"), Exact);
        assert_eq!(cmp("Иванов Иван Иванович", "Иванов Иван"), Compatible);
        assert_eq!(cmp("Иванов Иван Иванович", "Иванов И.И."), Compatible);
        assert_eq!(cmp("Иванов Иван Иванович", "И.И. Иванов"), Compatible);
        assert_eq!(cmp("Иванов Иван", "Ivan Ivanov"), Compatible);
        assert_eq!(cmp("Александр Петров", "Саша Петров"), Compatible);
        assert_eq!(cmp("Петрова Александра", "Шура Петрова"), Compatible);
        assert_eq!(cmp("Сергей Кузнецов", "Serguei Kuznetsov"), Compatible);
        assert_eq!(cmp("Наталия Смирнова", "Наталья Смирнова"), Compatible);
        assert_eq!(cmp("Юлия Жукова", "Iuliia Zhukova"), Compatible);
        assert_eq!(cmp("Слава Морозов", "Вячеслав Морозов"), Compatible);
        assert_eq!(cmp("Иванов Иван", "Иваонв Иван"), Compatible);
        assert_eq!(cmp("Петров С.", "Петров Саша"), Compatible);
        assert_eq!(cmp("Пётр Семёнов", "Петр Семенов"), Exact);
    }

    #[test]
    fn partial_agreement() {
        use NameAgreement::*;
        assert_eq!(cmp("Иванов", "Иванов Иван"), SurnameOnly);
        assert_eq!(cmp("Иван", "Иванов Иван"), GivenOnly);
        assert_eq!(cmp("Мария Иванова", "Мария Петрова"), GivenOnly);
        assert_eq!(cmp("Иван", "Иван"), Exact);
        assert_eq!(cmp("Анна К.", "Анна Кузнецова"), GivenOnly);
        assert_eq!(cmp("Иванов И.", "Иванов Иван"), Compatible);
    }

    #[test]
    fn conflicts() {
        use NameAgreement::*;
        assert_eq!(cmp("Иванов Иван", "Иванов Пётр"), Conflict);
        assert_eq!(cmp("Иванов Иван", "Иванова Мария"), Conflict);
        assert_eq!(cmp("Иванов Иван", "Иванова Ивана"), Conflict);
        assert_eq!(
            cmp("Иванов Иван Иванович", "Иванов Иван Петрович"),
            Conflict
        );
        assert_eq!(cmp("Мария Петрова", "Марина Петрова"), Conflict);
        assert_eq!(cmp("Иванов И.", "Иванов Пётр"), Conflict);
        assert_eq!(cmp("Иванов", "Петров"), Conflict);
        assert_eq!(cmp("Саша Петров", "Женя Петров"), Conflict);
        assert_eq!(cmp("Петров Саша", "Петрова Саша"), Conflict);
    }

    #[test]
    fn unknown() {
        use NameAgreement::*;
        assert_eq!(cmp("", "Иванов Иван"), Unknown);
        assert_eq!(cmp("Иванов Иван", "😀"), Unknown);
        assert_eq!(cmp("Иванов", "Иван"), Unknown);
        assert_eq!(cmp("", ""), Unknown);
    }

    #[test]
    fn comparison_details() {
        let c = NameComparison::of(
            &PersonName::parse("Иванов Иван Иванович"),
            &PersonName::parse("Ivanov Ivan"),
        );
        assert_eq!(c.surname, PartAgreement::Compatible);
        assert_eq!(c.given, PartAgreement::Compatible);
        assert_eq!(c.patronymic, PartAgreement::Missing);
        assert!(!c.gender_conflict);
    }
}
