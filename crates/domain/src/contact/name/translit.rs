//! A transliteration skeleton: one key for the Cyrillic original of a name
//! and for every Latin spelling it acquires in passports (ГОСТ 1983,
//! МВД 1997 and 2010, ICAO Doc 9303 of 2013), in German and French
//! spellings and in what people type themselves.
//!
//! The key is not a transliteration anybody reads; it is a phonetic
//! skeleton built so that the differences between the schemes disappear:
//!
//! * Cyrillic is mapped straight to symbols; Latin digraphs are mapped to
//!   the same symbols: `Z` ж (`zh`, `j`), `S` ш and щ (`sh`, `shch`, `sch`:
//!   informal spellings drop the «щ» distinction, so the key does too),
//!   `C` ч (`ch`, `tch`, `tsch`, `cz`), `T` ц (`ts`, `tc`, `tz`, `c` before
//!   e/i/y), `H` х (`kh`, `h`, `x` at the start), `x` elsewhere is `ks`.
//! * `y`, `j` and `i` are one letter. Before a vowel they are a glide
//!   (я, ю, ё, е, ья, ия) and are dropped, except that a glide before `o`
//!   becomes `e` (ё = е: Fyodor, Fedor, Федор) and a glide starting a word
//!   before `a`/`u` becomes `Z`, so that Julia = Yulia = Юлия and
//!   Jukov = Zhukov = Жуков; elsewhere they are `i` (Sergey, Sergei,
//!   Sergej; Dmitriy, Dmitrii, Dmitry).
//! * Repeated symbols collapse (Жанна/Жана, Кирилл/Кирил, Андреев/Andreyev).
//! * A word-final `-er` after a consonant is `-r` (Alexander/Aleksandr,
//!   Peter/Petr) and a final `-of`/`-ef` is `-ov`/`-ev` (Ivanoff).
//!
//! Known collisions of distinct names, accepted for a blocking key: Яна and
//! Жанна (`Zana`), Мария and Мара, Шукин and Щукин.

use super::super::text::truncate_chars;

/// Names longer than this are not names; the cap bounds the work.
const MAX_KEY_INPUT_CHARS: usize = 200;

/// The transliteration skeleton of `s`: words (runs of letters) keyed one by
/// one and joined with single spaces. Digits and punctuation are dropped.
pub fn translit_key(s: &str) -> String {
    let s = truncate_chars(s, MAX_KEY_INPUT_CHARS);
    let mut out = String::with_capacity(s.len());
    let mut word = String::with_capacity(32);
    for c in s.chars().chain(std::iter::once(' ')) {
        if c.is_alphabetic() {
            word.push(c);
        } else if matches!(c, '\'' | '’' | 'ʼ' | '`') {
            // Apostrophes stand for «ь» in some schemes (Natal'ya).
        } else if !word.is_empty() {
            let start = out.len();
            if start > 0 {
                out.push(' ');
            }
            word_key(&word, &mut out);
            if out.len() == start + usize::from(start > 0) {
                out.truncate(start);
            }
            word.clear();
        }
    }
    out
}

/// Surname key: [`translit_key`] with the feminine ending folded to the
/// masculine one, so Петров and Петрова, Ivanova and Иванов, Чайковская
/// and Tchaikovsky share a key.
pub fn surname_key(s: &str) -> String {
    let mut key = translit_key(s);
    fold_words(&mut key, fold_surname_ending);
    key
}

/// Patronymic key: the feminine patronymic folded to the masculine one, so
/// that a brother's and a sister's patronymics (Иванович, Ивановна) agree.
pub fn patronymic_key(s: &str) -> String {
    let mut key = translit_key(s);
    fold_words(&mut key, fold_patronymic_ending);
    key
}

fn fold_words(key: &mut String, fold: fn(&str) -> Option<String>) {
    if !key.split(' ').any(|w| fold(w).is_some()) {
        return;
    }
    let folded: Vec<String> = key
        .split(' ')
        .map(|w| fold(w).unwrap_or_else(|| w.to_owned()))
        .collect();
    *key = folded.join(" ");
}

fn fold_surname_ending(w: &str) -> Option<String> {
    let len = w.chars().count();
    if len < 4 {
        return None;
    }
    for (female, male) in [
        ("ova", "ov"),
        ("eva", "ev"),
        ("ina", "in"),
        ("ska", "ski"),
        ("Tka", "Tki"),
    ] {
        if let Some(stem) = w.strip_suffix(female) {
            return Some(format!("{stem}{male}"));
        }
    }
    None
}

fn fold_patronymic_ending(w: &str) -> Option<String> {
    for (female, male) in [("ovna", "oviC"), ("evna", "eviC"), ("iCna", "iC")] {
        if let Some(stem) = w.strip_suffix(female) {
            return Some(format!("{stem}{male}"));
        }
    }
    None
}

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'o' | b'u')
}

/// Append the key of one word (letters only) to `out`.
fn word_key(word: &str, out: &mut String) {
    let chars: Vec<char> = word.chars().flat_map(char::to_lowercase).collect();
    let mut sym: Vec<u8> = Vec::with_capacity(chars.len() + 4);
    let mut i = 0;
    while i < chars.len() {
        i += push_symbols(&chars, i, &mut sym);
    }

    // y, j, i are one letter; runs of them are one sound (ия, ий, iia).
    let mut merged: Vec<u8> = Vec::with_capacity(sym.len());
    for b in sym {
        let b = if b == b'j' { b'i' } else { b };
        if b == b'i' && merged.last() == Some(&b'i') {
            continue;
        }
        merged.push(b);
    }

    let mut glided: Vec<u8> = Vec::with_capacity(merged.len());
    let mut k = 0;
    while k < merged.len() {
        let b = merged[k];
        if b == b'i' {
            match merged.get(k + 1).copied() {
                Some(b'e') => {}
                Some(b'o') => {
                    glided.push(b'e');
                    k += 1;
                }
                Some(b'a' | b'u') if k == 0 => glided.push(b'Z'),
                Some(v) if is_vowel(v) => {}
                _ => glided.push(b'i'),
            }
        } else {
            glided.push(b);
        }
        k += 1;
    }
    glided.dedup();

    let n = glided.len();
    if n >= 3 && glided.ends_with(b"er") && !is_vowel(glided[n - 3]) && glided[n - 3] != b'i' {
        glided.remove(n - 2);
    } else if n >= 3 && glided[n - 1] == b'f' && matches!(glided[n - 2], b'o' | b'e') {
        glided[n - 1] = b'v';
    }
    out.extend(glided.iter().map(|&b| char::from(b)));
}

/// Map the letter(s) at `chars[i]` to key symbols; returns how many letters
/// were consumed.
fn push_symbols(chars: &[char], i: usize, sym: &mut Vec<u8>) -> usize {
    let at = |k: usize| chars.get(i + k).copied().unwrap_or('\0');
    let c = at(0);
    // Cyrillic: one letter, fixed symbols.
    let cyr: &[u8] = match c {
        'а' => b"a",
        'б' => b"b",
        'в' => b"v",
        'г' | 'ґ' => b"g",
        'д' => b"d",
        'е' | 'ё' | 'э' | 'є' => b"e",
        'ж' => b"Z",
        'з' => b"z",
        'и' | 'і' | 'ї' => b"i",
        'й' => b"j",
        'к' => b"k",
        'л' => b"l",
        'м' => b"m",
        'н' => b"n",
        'о' => b"o",
        'п' => b"p",
        'р' => b"r",
        'с' => b"s",
        'т' => b"t",
        'у' | 'ў' => b"u",
        'ф' => b"f",
        'х' => b"H",
        'ц' => b"T",
        'ч' => b"C",
        'ш' | 'щ' => b"S",
        // A soft or hard sign before «о» is the Ukrainian spelling of «ё»
        // (Ковальов = Ковалёв); elsewhere it has no Latin counterpart.
        'ъ' | 'ь' if chars.get(i + 1) == Some(&'о') => b"j",
        'ъ' | 'ь' => b"",
        'ы' => b"i",
        'ю' => b"ju",
        'я' => b"ja",
        _ => b"?",
    };
    if cyr != b"?" {
        sym.extend_from_slice(cyr);
        return 1;
    }
    let (s, used): (&[u8], usize) = match (c, at(1), at(2), at(3)) {
        ('s', 'h', 'c', 'h') => (b"S", 4),
        ('t', 's', 'c', 'h') => (b"C", 4),
        ('s', 'c', 'h', _) | ('s', 'h', 'h', _) => (b"S", 3),
        ('t', 'c', 'h', _) => (b"C", 3),
        ('s', 'h', _, _) | ('s', 'z', _, _) => (b"S", 2),
        ('c', 'h', _, _) | ('c', 'z', _, _) => (b"C", 2),
        ('z', 'h', _, _) => (b"Z", 2),
        ('k', 'h', _, _) => (b"H", 2),
        ('t', 's' | 'c' | 'z', _, _) => (b"T", 2),
        ('c', 'k', _, _) => (b"k", 2),
        ('p', 'h', _, _) => (b"f", 2),
        ('g', 'u', 'e' | 'i', _) => (b"g", 2),
        ('o', 'u', _, _) => (b"u", 2),
        // -цов, -цев (Kuznecov) against Nicolai, Constantin.
        ('c', 'e' | 'i' | 'y', _, _) | ('c', 'o', 'v', _) => (b"T", 1),
        ('c', _, _, _) => (b"k", 1),
        ('x', 'e', _, _) if i == 0 => (b"ks", 1),
        ('x', _, _, _) if i == 0 => (b"H", 1),
        ('x', _, _, _) => (b"ks", 1),
        ('h', _, _, _) => (b"H", 1),
        ('w', _, _, _) => (b"v", 1),
        ('q', _, _, _) => (b"k", 1),
        ('y', _, _, _) => (b"j", 1),
        ('š', _, _, _) => (b"S", 1),
        ('č', _, _, _) => (b"C", 1),
        ('ž', _, _, _) => (b"Z", 1),
        ('á' | 'à' | 'â' | 'ä' | 'ã' | 'å', _, _, _) => (b"a", 1),
        ('é' | 'è' | 'ê' | 'ë' | 'ě', _, _, _) => (b"e", 1),
        ('í' | 'ì' | 'î' | 'ï' | 'ý' | 'ÿ', _, _, _) => (b"i", 1),
        ('ó' | 'ò' | 'ô' | 'ö' | 'õ', _, _, _) => (b"o", 1),
        ('ú' | 'ù' | 'û' | 'ü' | 'ů', _, _, _) => (b"u", 1),
        ('ł', _, _, _) => (b"l", 1),
        ('ñ' | 'ń', _, _, _) => (b"n", 1),
        ('ś', _, _, _) => (b"s", 1),
        ('ź' | 'ż', _, _, _) => (b"z", 1),
        ('ç' | 'ć', _, _, _) => (b"C", 1),
        (c, _, _, _) if c.is_ascii_lowercase() => {
            sym.push(c as u8);
            return 1;
        }
        // Letters of other scripts carry no information we can compare.
        _ => (b"", 1),
    };
    sym.extend_from_slice(s);
    used
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_same(group: &[&str]) {
        let first = translit_key(group[0]);
        for s in group {
            assert_eq!(translit_key(s), first, "{s} vs {}", group[0]);
        }
    }

    #[test]
    fn passport_and_informal_spellings_collide() {
        assert_same(&["Сергей", "Sergey", "Sergei", "Serguei", "Sergej", "SERGEY"]);
        assert_same(&[
            "Юлия", "Yulia", "Julia", "Iuliia", "Yuliya", "Julija", "Юля",
        ]);
        assert_same(&[
            "Александр",
            "Alexander",
            "Aleksandr",
            "Alexandr",
            "Aleksander",
        ]);
        assert_same(&["Екатерина", "Ekaterina", "Yekaterina", "Jekaterina"]);
        assert_same(&[
            "Наталья",
            "Natalia",
            "Natalya",
            "Наталия",
            "Natal'ya",
            "Natalja",
        ]);
        assert_same(&["Жуков", "Zhukov", "Jukov", "Žukov"]);
        assert_same(&["Щукин", "Shchukin", "Schukin", "Shukin"]);
        assert_same(&["Хабаров", "Khabarov", "Habarov", "Xabarov"]);
        assert_same(&[
            "Дмитрий",
            "Dmitriy",
            "Dmitrii",
            "Dmitry",
            "Dmitri",
            "Dmitrij",
        ]);
        assert_same(&["Юрий", "Yuriy", "Iurii", "Yury", "Jurij"]);
        assert_same(&["Фёдор", "Федор", "Fedor", "Fyodor", "Fiodor", "Fjodor"]);
        assert_same(&["Евгений", "Evgeniy", "Yevgeny", "Evgenii", "Jewgeni"]);
        assert_same(&["Вячеслав", "Vyacheslav", "Viacheslav", "Vjačeslav"]);
        assert_same(&["Татьяна", "Tatiana", "Tatyana", "Tatjana"]);
        assert_same(&["Людмила", "Lyudmila", "Liudmila", "Ljudmila"]);
        assert_same(&["Кузнецов", "Kuznetsov", "Kuznecov", "Kuznetcov"]);
        assert_same(&["Ковалёв", "Kovalev", "Kovalyov", "Kovaliov", "Ковальов"]);
        assert_same(&["Андреев", "Andreev", "Andreyev", "Andreiev"]);
        assert_same(&["Алексей", "Aleksey", "Alexey", "Aleksei", "Alexej"]);
        assert_same(&[
            "Чайковский",
            "Chaikovsky",
            "Tchaikovsky",
            "Tschaikowski",
            "Chaykovskiy",
        ]);
        assert_same(&["Иванов", "Ivanov", "Iwanow", "Ivanoff"]);
        assert_same(&["Ксения", "Kseniya", "Ksenia", "Xenia"]);
        assert_same(&["Илья", "Ilya", "Ilia", "Ilja", "Илия"]);
        assert_same(&["Цой", "Tsoy", "Tsoi", "Tcoi"]);
    }

    #[test]
    fn different_names_stay_apart() {
        let pairs = [
            ("Иванов", "Ивашов"),
            ("Петров", "Петрова"),
            ("Сергей", "Сергеев"),
            ("Александр", "Александра"),
            ("Шишкин", "Шашкин"),
            ("Смирнов", "Смирнова"),
            ("Михаил", "Максим"),
            ("Ирина", "Арина"),
            ("Кузнецов", "Кузьмин"),
            ("Юлия", "Лилия"),
        ];
        for (a, b) in pairs {
            assert_ne!(translit_key(a), translit_key(b), "{a} vs {b}");
        }
    }

    #[test]
    fn surname_key_folds_gender_endings() {
        assert_eq!(surname_key("Петрова"), surname_key("Petrov"));
        assert_eq!(surname_key("Иванова"), surname_key("Ivanov"));
        assert_eq!(surname_key("Ильина"), surname_key("Ильин"));
        assert_eq!(surname_key("Чайковская"), surname_key("Tchaikovsky"));
        assert_eq!(surname_key("Вишневецкая"), surname_key("Вишневецкий"));
        assert_eq!(surname_key("Петрова-Водкина"), surname_key("Петров-Водкин"));
        assert_ne!(surname_key("Иванова"), surname_key("Ивашова"));
        assert_eq!(surname_key("Шевченко"), translit_key("Шевченко"));
    }

    #[test]
    fn patronymic_key_folds_gender() {
        assert_eq!(patronymic_key("Ивановна"), patronymic_key("Иванович"));
        assert_eq!(patronymic_key("Sergeevna"), patronymic_key("Сергеевич"));
        assert_eq!(patronymic_key("Никитична"), patronymic_key("Никитич"));
        assert_ne!(patronymic_key("Петрович"), patronymic_key("Павлович"));
    }

    #[test]
    fn words_are_keyed_separately() {
        assert_eq!(translit_key("Петров-Водкин"), "petrov vodkin");
        assert_eq!(translit_key("  Анна  "), "ana");
        assert_eq!(translit_key(""), "");
        assert_eq!(translit_key("123 !!"), "");
        assert_eq!(translit_key("李 Иван"), "ivan");
        let long = "Щ".repeat(10_000);
        assert!(translit_key(&long).len() <= 200);
        let _ = translit_key("😀ё👍Ёж");
    }
}
