//! Working calendar: task due dates are counted in working time of the sales
//! department, not in wall-clock time ("перезвонить в течение 2 рабочих часов"
//! set on Friday evening means Monday morning, not Saturday night).

use std::collections::BTreeSet;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc, Weekday,
    WeekdaySet,
};
use chrono_tz::Tz;
use serde::Deserialize;

/// Why a calendar could not be built from configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    #[error("calendar.timezone: unknown time zone {0:?} (expected an IANA name such as \"Europe/Moscow\")")]
    UnknownTimezone(String),
    #[error("calendar.work_hours: expected \"HH:MM-HH:MM\", got {0:?}")]
    BadWorkHours(String),
    #[error("calendar.work_hours: the working day must end after it starts, got {0:?}")]
    EmptyWorkDay(String),
    #[error("calendar.weekends[{index}]: unknown weekday {value:?} (expected mon, tue, ..., sun)")]
    BadWeekday { index: usize, value: String },
    #[error("calendar.weekends: every weekday is a weekend, nothing could ever fall due")]
    NoWorkingWeekday,
    #[error("calendar.{field}[{index}]: expected a date \"YYYY-MM-DD\", got {value:?}")]
    BadDate {
        field: &'static str,
        index: usize,
        value: String,
    },
}

/// The `[calendar]` table as written in TOML. Kept separate from
/// [`WorkCalendar`] so that the checked calendar cannot exist in an invalid
/// state (for example with no working weekday, which would make due-date
/// searches run forever).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// IANA time zone of the sales department; "today" and working hours are
    /// evaluated there.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// `"HH:MM-HH:MM"`, local time.
    #[serde(default = "default_work_hours")]
    pub work_hours: String,
    /// Days off every week: `["sat", "sun"]`.
    #[serde(default = "default_weekends")]
    pub weekends: Vec<String>,
    /// Public holidays (`"YYYY-MM-DD"`), e.g. from the production calendar.
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Weekend days declared working by a government transfer
    /// ("рабочая суббота"), `"YYYY-MM-DD"`.
    #[serde(default)]
    pub working_weekends: Vec<String>,
}

fn default_timezone() -> String {
    "Europe/Moscow".to_owned()
}

fn default_work_hours() -> String {
    "09:00-18:00".to_owned()
}

fn default_weekends() -> Vec<String> {
    vec!["sat".to_owned(), "sun".to_owned()]
}

impl Default for CalendarConfig {
    fn default() -> Self {
        Self {
            timezone: default_timezone(),
            work_hours: default_work_hours(),
            weekends: default_weekends(),
            holidays: Vec::new(),
            working_weekends: Vec::new(),
        }
    }
}

/// A checked working calendar. Deserializes from the `[calendar]` table
/// (see [`CalendarConfig`]); invalid values fail deserialization with a
/// message naming the key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "CalendarConfig")]
pub struct WorkCalendar {
    tz: Tz,
    work_start: NaiveTime,
    work_end: NaiveTime,
    weekends: WeekdaySet,
    holidays: BTreeSet<NaiveDate>,
    working_weekends: BTreeSet<NaiveDate>,
}

impl Default for WorkCalendar {
    /// Europe/Moscow, 09:00–18:00, Saturday and Sunday off, no holidays.
    fn default() -> Self {
        Self {
            tz: chrono_tz::Europe::Moscow,
            work_start: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or(NaiveTime::MIN),
            work_end: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or(NaiveTime::MIN),
            weekends: WeekdaySet::from_array([Weekday::Sat, Weekday::Sun]),
            holidays: BTreeSet::new(),
            working_weekends: BTreeSet::new(),
        }
    }
}

impl TryFrom<CalendarConfig> for WorkCalendar {
    type Error = CalendarError;

    fn try_from(config: CalendarConfig) -> Result<Self, Self::Error> {
        let tz = Tz::from_str(config.timezone.trim())
            .map_err(|_| CalendarError::UnknownTimezone(config.timezone.clone()))?;
        let (work_start, work_end) = parse_work_hours(&config.work_hours)?;
        let mut weekends = WeekdaySet::EMPTY;
        for (index, value) in config.weekends.iter().enumerate() {
            let day = Weekday::from_str(value.trim()).map_err(|_| CalendarError::BadWeekday {
                index,
                value: value.clone(),
            })?;
            weekends.insert(day);
        }
        let holidays = parse_dates("holidays", &config.holidays)?;
        let working_weekends = parse_dates("working_weekends", &config.working_weekends)?;
        Self::new(
            tz,
            work_start,
            work_end,
            weekends,
            holidays,
            working_weekends,
        )
    }
}

fn parse_work_hours(raw: &str) -> Result<(NaiveTime, NaiveTime), CalendarError> {
    let bad = || CalendarError::BadWorkHours(raw.to_owned());
    let (start, end) = raw.split_once('-').ok_or_else(bad)?;
    let start = NaiveTime::parse_from_str(start.trim(), "%H:%M").map_err(|_| bad())?;
    let end = NaiveTime::parse_from_str(end.trim(), "%H:%M").map_err(|_| bad())?;
    if end <= start {
        return Err(CalendarError::EmptyWorkDay(raw.to_owned()));
    }
    Ok((start, end))
}

fn parse_dates(field: &'static str, raw: &[String]) -> Result<BTreeSet<NaiveDate>, CalendarError> {
    raw.iter()
        .enumerate()
        .map(|(index, value)| {
            NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d").map_err(|_| {
                CalendarError::BadDate {
                    field,
                    index,
                    value: value.clone(),
                }
            })
        })
        .collect()
}

impl WorkCalendar {
    /// Builds a calendar, refusing configurations in which no day could ever
    /// be a working day.
    pub fn new(
        tz: Tz,
        work_start: NaiveTime,
        work_end: NaiveTime,
        weekends: WeekdaySet,
        holidays: BTreeSet<NaiveDate>,
        working_weekends: BTreeSet<NaiveDate>,
    ) -> Result<Self, CalendarError> {
        if work_end <= work_start {
            return Err(CalendarError::EmptyWorkDay(format!(
                "{}-{}",
                work_start.format("%H:%M"),
                work_end.format("%H:%M")
            )));
        }
        // With at least one working weekday and a finite holiday set, the
        // "next working day" search below always terminates.
        if weekends.len() >= 7 {
            return Err(CalendarError::NoWorkingWeekday);
        }
        Ok(Self {
            tz,
            work_start,
            work_end,
            weekends,
            holidays,
            working_weekends,
        })
    }

    pub fn tz(&self) -> Tz {
        self.tz
    }

    pub fn work_start(&self) -> NaiveTime {
        self.work_start
    }

    pub fn work_end(&self) -> NaiveTime {
        self.work_end
    }

    /// The calendar date of `at` in the department's time zone.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.tz).date_naive()
    }

    /// A transferred working Saturday beats the weekly weekend; a holiday
    /// beats everything else.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.holidays.contains(&date) {
            return false;
        }
        self.working_weekends.contains(&date) || !self.weekends.contains(date.weekday())
    }

    fn next_working_day(&self, after: NaiveDate) -> NaiveDate {
        let mut date = after;
        loop {
            date = match date.succ_opt() {
                Some(next) => next,
                // Year 262143: nothing sensible to return but the same day.
                None => return date,
            };
            if self.is_working_day(date) {
                return date;
            }
        }
    }

    /// The working day a task set at `from` starts counting on: today if
    /// `from` is before the end of a working day, otherwise the next working
    /// day (after-hours and weekend requests are handled the next morning).
    fn current_working_day(&self, from: DateTime<Utc>) -> NaiveDate {
        let local = from.with_timezone(&self.tz).naive_local();
        let date = local.date();
        if self.is_working_day(date) && local.time() < self.work_end {
            date
        } else {
            self.next_working_day(date)
        }
    }

    /// End of the working day that `from` belongs to: a due of `"0d"`
    /// ("сегодня"). After hours or on a day off it is the end of the next
    /// working day.
    pub fn end_of_today(&self, from: DateTime<Utc>) -> DateTime<Utc> {
        let day = self.current_working_day(from);
        self.to_utc(day.and_time(self.work_end))
    }

    /// End of the `n`-th working day after the current working day
    /// (`"3d"`): set on Monday 10:00, due Thursday at the end of the day.
    pub fn add_working_days(&self, from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let mut day = self.current_working_day(from);
        for _ in 0..n {
            day = self.next_working_day(day);
        }
        self.to_utc(day.and_time(self.work_end))
    }

    /// `from` plus `n` hours of working time (`"2h"`): Monday 17:00 + 2h is
    /// Tuesday 10:00; a request on Saturday is due Monday 11:00.
    pub fn add_working_hours(&self, from: DateTime<Utc>, n: u32) -> DateTime<Utc> {
        let local = from.with_timezone(&self.tz).naive_local();
        let mut cursor = if self.is_working_day(local.date()) && local.time() < self.work_end {
            local.max(local.date().and_time(self.work_start))
        } else {
            self.next_working_day(local.date())
                .and_time(self.work_start)
        };
        let mut remaining = Duration::hours(i64::from(n));
        loop {
            let left_today = cursor.date().and_time(self.work_end) - cursor;
            if remaining <= left_today {
                return self.to_utc(cursor + remaining);
            }
            remaining -= left_today;
            cursor = self
                .next_working_day(cursor.date())
                .and_time(self.work_start);
        }
    }

    /// Working minutes between two moments: only the parts of working days
    /// inside working hours count (an appeal at 17:55 on Friday handled at
    /// 9:10 on Monday took 15 minutes). Whole minutes, rounded down; zero
    /// when `to` is not after `from`.
    pub fn working_minutes(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
        if to <= from {
            return 0;
        }
        let start = from.with_timezone(&self.tz).naive_local();
        let end = to.with_timezone(&self.tz).naive_local();
        let mut seconds = 0i64;
        let mut day = start.date();
        while day <= end.date() {
            if self.is_working_day(day) {
                let open = day.and_time(self.work_start).max(start);
                let close = day.and_time(self.work_end).min(end);
                if close > open {
                    seconds += (close - open).num_seconds();
                }
            }
            day = match day.succ_opt() {
                Some(next) => next,
                None => break,
            };
        }
        seconds / 60
    }

    /// Local wall time to UTC. Moscow has no DST, but a configured zone may:
    /// in a spring-forward gap the wall time does not exist, so we move
    /// forward to the first instant that does; in an autumn overlap we take
    /// the earlier instant (the due moment must not slip later).
    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let mut probe = local;
        for _ in 0..48 {
            if let Some(at) = self.tz.from_local_datetime(&probe).earliest() {
                return at.with_timezone(&Utc);
            }
            probe += Duration::minutes(30);
        }
        // No zone has a 24-hour gap; treat the wall time as UTC rather than panic.
        Utc.from_utc_datetime(&local)
    }
}

#[cfg(test)]
mod tests {
    use super::super::from_toml;
    use super::*;

    fn msk(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Moscow
            .with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid Moscow time")
            .with_timezone(&Utc)
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid date")
    }

    // 2027-03-01 is a Monday.
    #[test]
    fn end_of_today_on_a_working_day_is_end_of_working_hours() {
        let cal = WorkCalendar::default();
        assert_eq!(
            cal.end_of_today(msk(2027, 3, 1, 10, 0)),
            msk(2027, 3, 1, 18, 0)
        );
        // Before opening it is still today.
        assert_eq!(
            cal.end_of_today(msk(2027, 3, 1, 7, 30)),
            msk(2027, 3, 1, 18, 0)
        );
    }

    #[test]
    fn end_of_today_after_hours_or_weekend_moves_to_next_working_day() {
        let cal = WorkCalendar::default();
        assert_eq!(
            cal.end_of_today(msk(2027, 3, 1, 18, 0)),
            msk(2027, 3, 2, 18, 0)
        );
        // Friday evening and Saturday go to Monday.
        assert_eq!(
            cal.end_of_today(msk(2027, 3, 5, 19, 0)),
            msk(2027, 3, 8, 18, 0)
        );
        assert_eq!(
            cal.end_of_today(msk(2027, 3, 6, 12, 0)),
            msk(2027, 3, 8, 18, 0)
        );
    }

    #[test]
    fn working_days_skip_weekends() {
        let cal = WorkCalendar::default();
        assert_eq!(
            cal.add_working_days(msk(2027, 3, 1, 10, 0), 3),
            msk(2027, 3, 4, 18, 0)
        );
        // Thursday + 3 working days = Tuesday.
        assert_eq!(
            cal.add_working_days(msk(2027, 3, 4, 10, 0), 3),
            msk(2027, 3, 9, 18, 0)
        );
        // Saturday: counting starts from Monday.
        assert_eq!(
            cal.add_working_days(msk(2027, 3, 6, 10, 0), 1),
            msk(2027, 3, 9, 18, 0)
        );
        assert_eq!(
            cal.add_working_days(msk(2027, 3, 1, 10, 0), 0),
            msk(2027, 3, 1, 18, 0)
        );
    }

    #[test]
    fn working_days_skip_holidays_and_honour_working_saturdays() {
        let config = CalendarConfig {
            holidays: vec!["2027-03-08".into()],
            working_weekends: vec!["2027-03-06".into()],
            ..CalendarConfig::default()
        };
        let cal = WorkCalendar::try_from(config).expect("valid calendar");
        assert!(cal.is_working_day(date(2027, 3, 6)));
        assert!(!cal.is_working_day(date(2027, 3, 7)));
        assert!(!cal.is_working_day(date(2027, 3, 8)));
        // Friday + 1 = the working Saturday; + 2 = Tuesday (Sunday off, Monday holiday).
        assert_eq!(
            cal.add_working_days(msk(2027, 3, 5, 10, 0), 1),
            msk(2027, 3, 6, 18, 0)
        );
        assert_eq!(
            cal.add_working_days(msk(2027, 3, 5, 10, 0), 2),
            msk(2027, 3, 9, 18, 0)
        );
    }

    #[test]
    fn working_hours_within_one_day() {
        let cal = WorkCalendar::default();
        assert_eq!(
            cal.add_working_hours(msk(2027, 3, 1, 10, 15), 2),
            msk(2027, 3, 1, 12, 15)
        );
        // Landing exactly on closing time stays on the same day.
        assert_eq!(
            cal.add_working_hours(msk(2027, 3, 1, 16, 0), 2),
            msk(2027, 3, 1, 18, 0)
        );
    }

    #[test]
    fn working_hours_carry_over_the_night_and_the_weekend() {
        let cal = WorkCalendar::default();
        assert_eq!(
            cal.add_working_hours(msk(2027, 3, 1, 17, 0), 2),
            msk(2027, 3, 2, 10, 0)
        );
        assert_eq!(
            cal.add_working_hours(msk(2027, 3, 5, 17, 30), 2),
            msk(2027, 3, 8, 10, 30)
        );
        assert_eq!(
            cal.add_working_hours(msk(2027, 3, 6, 3, 0), 2),
            msk(2027, 3, 8, 11, 0)
        );
        // Early morning starts at opening time.
        assert_eq!(
            cal.add_working_hours(msk(2027, 3, 1, 6, 0), 1),
            msk(2027, 3, 1, 10, 0)
        );
        // 20 working hours = 2 full days + 2 hours.
        assert_eq!(
            cal.add_working_hours(msk(2027, 3, 1, 9, 0), 20),
            msk(2027, 3, 3, 11, 0)
        );
    }

    #[test]
    fn working_minutes_friday_evening_to_monday_morning() {
        let cal = WorkCalendar::default();
        // 2027-03-05 is a Friday: 5 minutes on Friday, 10 on Monday.
        assert_eq!(
            cal.working_minutes(msk(2027, 3, 5, 17, 55), msk(2027, 3, 8, 9, 10)),
            15
        );
    }

    #[test]
    fn working_minutes_within_a_day_at_night_and_over_holidays() {
        let cal = WorkCalendar::default();
        assert_eq!(
            cal.working_minutes(msk(2027, 3, 1, 10, 0), msk(2027, 3, 1, 10, 7)),
            7
        );
        // Both ends outside working hours of the same evening: nothing counts.
        assert_eq!(
            cal.working_minutes(msk(2027, 3, 1, 19, 0), msk(2027, 3, 1, 23, 0)),
            0
        );
        // Night: from 20:00 to 09:30 next morning is 30 minutes.
        assert_eq!(
            cal.working_minutes(msk(2027, 3, 1, 20, 0), msk(2027, 3, 2, 9, 30)),
            30
        );
        // A whole working day is 540 minutes; Saturday adds nothing.
        assert_eq!(
            cal.working_minutes(msk(2027, 3, 5, 9, 0), msk(2027, 3, 6, 12, 0)),
            540
        );
        // Backwards or equal: zero.
        assert_eq!(
            cal.working_minutes(msk(2027, 3, 1, 12, 0), msk(2027, 3, 1, 11, 0)),
            0
        );
        let config = CalendarConfig {
            holidays: vec!["2027-03-08".into()],
            working_weekends: vec!["2027-03-06".into()],
            ..CalendarConfig::default()
        };
        let cal = WorkCalendar::try_from(config).expect("valid calendar");
        // Friday 17:00 → Tuesday 10:00 with a working Saturday and a Monday
        // holiday: 60 + 540 + 60.
        assert_eq!(
            cal.working_minutes(msk(2027, 3, 5, 17, 0), msk(2027, 3, 9, 10, 0)),
            660
        );
    }

    #[test]
    fn moscow_has_no_dst_shift_in_march_or_october() {
        let cal = WorkCalendar::default();
        // 2027-03-28 and 2027-10-31 are European DST switch Sundays; Moscow stays UTC+3.
        let friday = msk(2027, 3, 26, 17, 0);
        let due = cal.add_working_hours(friday, 2);
        assert_eq!(due, msk(2027, 3, 29, 10, 0));
        assert_eq!(due.format("%H:%M").to_string(), "07:00");
        let october = cal.add_working_days(msk(2027, 10, 29, 12, 0), 1);
        assert_eq!(
            october.format("%Y-%m-%d %H:%M").to_string(),
            "2027-11-01 15:00"
        );
    }

    #[test]
    fn zone_with_dst_keeps_local_office_hours() {
        let config = CalendarConfig {
            timezone: "Europe/Berlin".into(),
            ..CalendarConfig::default()
        };
        let cal = WorkCalendar::try_from(config).expect("valid calendar");
        // Friday before the spring switch, due Monday 18:00 CEST = 16:00 UTC.
        let from = Utc
            .with_ymd_and_hms(2027, 3, 26, 10, 0, 0)
            .single()
            .expect("utc");
        let due = cal.add_working_days(from, 1);
        assert_eq!(
            due,
            Utc.with_ymd_and_hms(2027, 3, 29, 16, 0, 0)
                .single()
                .expect("utc")
        );
    }

    #[test]
    fn deserializes_from_toml_with_defaults() {
        let cal: WorkCalendar = from_toml(
            r#"
            timezone = "Asia/Yekaterinburg"
            work_hours = "08:30-17:30"
            holidays = ["2027-01-01", "2027-01-07"]
            "#,
        )
        .expect("calendar parses");
        assert_eq!(cal.tz(), chrono_tz::Asia::Yekaterinburg);
        assert_eq!(
            cal.work_start(),
            NaiveTime::from_hms_opt(8, 30, 0).expect("time")
        );
        assert!(!cal.is_working_day(date(2027, 1, 7)));
        assert!(!cal.is_working_day(date(2027, 1, 9))); // Saturday by default weekends
        let empty: WorkCalendar = from_toml("").expect("all defaults");
        assert_eq!(empty, WorkCalendar::default());
    }

    #[test]
    fn rejects_bad_calendar_values_with_key_names() {
        let cases = [
            (r#"timezone = "Mars/Olympus""#, "calendar.timezone"),
            (r#"work_hours = "9-18""#, "calendar.work_hours"),
            (r#"work_hours = "18:00-09:00""#, "calendar.work_hours"),
            (r#"weekends = ["sat", "funday"]"#, "calendar.weekends[1]"),
            (
                r#"weekends = ["mon","tue","wed","thu","fri","sat","sun"]"#,
                "calendar.weekends",
            ),
            (r#"holidays = ["2027-13-01"]"#, "calendar.holidays[0]"),
            (
                r#"working_weekends = ["soon"]"#,
                "calendar.working_weekends[0]",
            ),
            (r#"workhours = "09:00-18:00""#, "unknown field"),
        ];
        for (input, expected) in cases {
            let err = from_toml::<WorkCalendar>(input).expect_err(input);
            assert!(err.to_string().contains(expected), "{input}: {err}");
        }
    }
}
