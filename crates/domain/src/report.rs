//! The pure half of the reports for the head of sales: the period a report
//! covers, and the distribution of reaction times that the database hands
//! over already grouped (the queries never return one row per appeal).
//!
//! Reaction times are stored in working minutes when they happen (see
//! [`crate::scenario::WorkCalendar::working_minutes`]). The queries group
//! them into [`bucket`]s: exact below two hours, so "within 15 minutes" and
//! "within an hour" are exact; 10-minute steps up to two working days;
//! hours beyond; everything from 20 working days on in one bucket.

use chrono::{DateTime, Duration, NaiveDate, Offset, TimeZone, Utc};
use chrono_tz::Tz;

/// The bucket (its lower bound, in minutes) a reaction time falls into.
pub fn bucket(minutes: i64) -> i64 {
    let m = minutes.max(0);
    if m < 120 {
        m
    } else if m < 1080 {
        m - m % 10
    } else if m < 10_800 {
        m - m % 60
    } else {
        10_800
    }
}

/// [`bucket`] as an SQL expression over the integer column `col`, the same
/// on SQLite and PostgreSQL.
pub fn bucket_sql(col: &str) -> String {
    format!(
        "CASE WHEN {col} < 120 THEN {col} WHEN {col} < 1080 THEN {col} - {col} % 10 \
         WHEN {col} < 10800 THEN {col} - {col} % 60 ELSE 10800 END"
    )
}

/// Reaction-time histogram bins: `(label, lowest minute, highest minute)`,
/// bounds inclusive; they cut only at bucket bounds.
pub const HISTOGRAM: [(&str, i64, i64); 9] = [
    ("0–5 мин", 0, 5),
    ("6–15 мин", 6, 15),
    ("16–30 мин", 16, 30),
    ("31–60 мин", 31, 60),
    ("1–2 ч", 61, 119),
    ("2–4 ч", 120, 239),
    ("4–9 ч", 240, 539),
    ("1–2 р. дня", 540, 1079),
    ("> 2 р. дней", 1080, i64::MAX),
];

/// Counts of reaction times by bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Distribution {
    /// (bucket, count), ascending by bucket, no repeats.
    counts: Vec<(i64, i64)>,
}

impl Distribution {
    pub fn add(&mut self, minutes: i64, count: i64) {
        let b = bucket(minutes);
        match self.counts.binary_search_by_key(&b, |(k, _)| *k) {
            Ok(i) => self.counts[i].1 += count,
            Err(i) => self.counts.insert(i, (b, count)),
        }
    }

    pub fn total(&self) -> i64 {
        self.counts.iter().map(|(_, c)| c).sum()
    }

    /// Nearest-rank percentile (`p` in 0..=1): the smallest bucket at which
    /// at least `p` of all values lie at or below. `None` when empty.
    pub fn percentile(&self, p: f64) -> Option<i64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        let rank = ((p * total as f64).ceil() as i64).clamp(1, total);
        let mut seen = 0;
        for (b, c) in &self.counts {
            seen += c;
            if seen >= rank {
                return Some(*b);
            }
        }
        self.counts.last().map(|(b, _)| *b)
    }

    pub fn median(&self) -> Option<i64> {
        self.percentile(0.5)
    }

    pub fn p90(&self) -> Option<i64> {
        self.percentile(0.9)
    }

    /// How many took at most `minutes` (exact for limits below two hours).
    pub fn within(&self, minutes: i64) -> i64 {
        self.counts
            .iter()
            .filter(|(b, _)| *b <= minutes)
            .map(|(_, c)| c)
            .sum()
    }

    /// Counts per [`HISTOGRAM`] bin.
    pub fn histogram(&self) -> Vec<i64> {
        HISTOGRAM
            .iter()
            .map(|(_, lo, hi)| {
                self.counts
                    .iter()
                    .filter(|(b, _)| b >= lo && b <= hi)
                    .map(|(_, c)| c)
                    .sum()
            })
            .collect()
    }
}

/// A share in percent, one decimal; `None` when there is nothing to share.
pub fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| ((part as f64) * 1000.0 / whole as f64).round() / 10.0)
}

/// Minutes the way a head of sales reads them: "45 мин", "2 ч 10 мин".
pub fn minutes_label(minutes: i64) -> String {
    if minutes < 60 {
        format!("{minutes} мин")
    } else if minutes % 60 == 0 {
        format!("{} ч", minutes / 60)
    } else {
        format!("{} ч {} мин", minutes / 60, minutes % 60)
    }
}

/// The preset periods of the period picker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Today,
    Days7,
    Days30,
    Quarter,
}

impl Preset {
    pub fn parse(raw: &str) -> Option<Preset> {
        Some(match raw {
            "today" => Preset::Today,
            "7d" => Preset::Days7,
            "30d" => Preset::Days30,
            "quarter" => Preset::Quarter,
            _ => return None,
        })
    }
}

/// Why a period could not be understood; names the parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("{field}: expected a date YYYY-MM-DD or an RFC 3339 time, got {value:?}")]
    BadTime { field: &'static str, value: String },
    #[error("to: the period must end after it starts")]
    Empty,
    #[error("period: expected today, 7d, 30d, quarter or custom, got {0:?}")]
    BadPreset(String),
    #[error("to: a report covers at most 400 days")]
    TooLong,
}

/// A half-open interval `[from, to)` of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

impl Period {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Period, PeriodError> {
        if to <= from {
            return Err(PeriodError::Empty);
        }
        if to - from > Duration::days(400) {
            return Err(PeriodError::TooLong);
        }
        Ok(Period { from, to })
    }

    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }

    /// The period of the same length just before this one.
    pub fn previous(&self) -> Period {
        let length = self.to - self.from;
        Period {
            from: self.from - length,
            to: self.from,
        }
    }

    /// From the request's `period`, `from` and `to`: a preset counts whole
    /// local days up to and including today; `from`/`to` given as dates are
    /// whole local days (`to` inclusive), as RFC 3339 exact moments. Nothing
    /// given is the last 30 days.
    pub fn resolve(
        preset: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        now: DateTime<Utc>,
        tz: Tz,
    ) -> Result<Period, PeriodError> {
        let today = now.with_timezone(&tz).date_naive();
        let tomorrow = local_midnight(tz, today + Duration::days(1));
        let preset = match preset.map(str::trim).filter(|p| !p.is_empty()) {
            None | Some("custom") => None,
            Some(raw) => {
                Some(Preset::parse(raw).ok_or_else(|| PeriodError::BadPreset(raw.to_owned()))?)
            }
        };
        let from = from.map(str::trim).filter(|v| !v.is_empty());
        let to = to.map(str::trim).filter(|v| !v.is_empty());
        if preset.is_some() || (from.is_none() && to.is_none()) {
            let days = match preset.unwrap_or(Preset::Days30) {
                Preset::Today => 1,
                Preset::Days7 => 7,
                Preset::Days30 => 30,
                Preset::Quarter => 91,
            };
            let start = local_midnight(tz, today - Duration::days(days - 1));
            return Period::new(start, tomorrow);
        }
        let to = match to {
            Some(raw) => parse_moment("to", raw, tz, true)?,
            None => tomorrow,
        };
        let from = match from {
            Some(raw) => parse_moment("from", raw, tz, false)?,
            None => to - Duration::days(30),
        };
        Period::new(from, to)
    }
}

fn parse_moment(
    field: &'static str,
    raw: &str,
    tz: Tz,
    end: bool,
) -> Result<DateTime<Utc>, PeriodError> {
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let date = if end { date + Duration::days(1) } else { date };
        return Ok(local_midnight(tz, date));
    }
    DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| PeriodError::BadTime {
            field,
            value: raw.to_owned(),
        })
}

/// The first instant of a local date.
pub fn local_midnight(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    let naive = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    match tz.from_local_datetime(&naive).earliest() {
        Some(at) => at.with_timezone(&Utc),
        // A zone that skips midnight: an hour later exists.
        None => tz
            .from_local_datetime(&(naive + Duration::hours(1)))
            .earliest()
            .map(|at| at.with_timezone(&Utc))
            .unwrap_or_else(|| Utc.from_utc_datetime(&naive)),
    }
}

/// The zone's offset from UTC at `at`, in milliseconds: the queries count
/// days as `(at + offset) / 86 400 000`. Within one period the offset of its
/// start is used, which is exact for zones without daylight saving time
/// (all of Russia) and an hour off around a switch elsewhere.
pub fn offset_ms(tz: Tz, at: DateTime<Utc>) -> i64 {
    i64::from(
        tz.offset_from_utc_datetime(&at.naive_utc())
            .fix()
            .local_minus_utc(),
    ) * 1000
}

/// The local date of day number `day` (days since 1970-01-01 local).
pub fn day_date(day: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default() + Duration::days(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dist(values: &[i64]) -> Distribution {
        let mut d = Distribution::default();
        for v in values {
            d.add(*v, 1);
        }
        d
    }

    #[test]
    fn buckets_are_exact_below_two_hours() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(15), 15);
        assert_eq!(bucket(119), 119);
        assert_eq!(bucket(125), 120);
        assert_eq!(bucket(1079), 1070);
        assert_eq!(bucket(1150), 1140);
        assert_eq!(bucket(50_000), 10_800);
        assert_eq!(bucket(-3), 0);
    }

    #[test]
    fn nearest_rank_median_and_p90() {
        let d = dist(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(d.median(), Some(5));
        assert_eq!(d.p90(), Some(9));
        let d = dist(&[15, 3, 200]);
        assert_eq!(d.median(), Some(15));
        assert_eq!(d.p90(), Some(200));
        assert_eq!(d.within(15), 2);
        assert_eq!(d.within(60), 2);
        assert_eq!(Distribution::default().median(), None);
    }

    #[test]
    fn histogram_bins_cover_every_bucket_once() {
        let d = dist(&[
            0, 5, 6, 15, 16, 60, 61, 119, 120, 539, 540, 1079, 1080, 99_999,
        ]);
        assert_eq!(d.histogram(), vec![2, 2, 1, 1, 2, 1, 1, 2, 2]);
        assert_eq!(d.histogram().iter().sum::<i64>(), d.total());
    }

    #[test]
    fn periods_from_presets_and_dates() {
        let tz = chrono_tz::Europe::Moscow;
        let now = Utc.with_ymd_and_hms(2027, 3, 10, 12, 0, 0).unwrap();
        let p = Period::resolve(Some("7d"), None, None, now, tz).unwrap();
        assert_eq!(
            p.from(),
            Utc.with_ymd_and_hms(2027, 3, 3, 21, 0, 0).unwrap()
        );
        assert_eq!(p.to(), Utc.with_ymd_and_hms(2027, 3, 10, 21, 0, 0).unwrap());
        assert_eq!(p.previous().to(), p.from());
        let p = Period::resolve(None, Some("2027-03-01"), Some("2027-03-01"), now, tz).unwrap();
        assert_eq!(
            p.from(),
            Utc.with_ymd_and_hms(2027, 2, 28, 21, 0, 0).unwrap()
        );
        assert_eq!(p.to() - p.from(), Duration::days(1));
        let p = Period::resolve(
            Some("custom"),
            Some("2027-03-01T10:00:00+03:00"),
            Some("2027-03-01T11:00:00Z"),
            now,
            tz,
        )
        .unwrap();
        assert_eq!(p.to() - p.from(), Duration::hours(4));
        assert!(matches!(
            Period::resolve(None, Some("yesterday"), None, now, tz),
            Err(PeriodError::BadTime { field: "from", .. })
        ));
        assert_eq!(
            Period::resolve(None, Some("2027-03-02"), Some("2027-03-01"), now, tz),
            Err(PeriodError::Empty)
        );
        assert_eq!(offset_ms(tz, now), 3 * 3_600_000);
    }

    #[test]
    fn labels() {
        assert_eq!(minutes_label(45), "45 мин");
        assert_eq!(minutes_label(120), "2 ч");
        assert_eq!(minutes_label(130), "2 ч 10 мин");
        assert_eq!(percent(1, 3), Some(33.3));
        assert_eq!(percent(1, 0), None);
    }
}
