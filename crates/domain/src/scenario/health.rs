//! Health colour of an interest, as the sales head sees it in the list:
//! red — something is already late, yellow — something must be done today,
//! green — everything is planned for later.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::WorkCalendar;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Colour {
    Green,
    Yellow,
    Red,
}

/// `tasks_due` are due moments of the interest's open tasks and planned
/// interactions; `agreed_dates` are dates agreed with the client (promised
/// payment, delivery), as calendar dates in the department's time zone.
/// "Today" is the local date of `now` in the calendar's zone, so a task due
/// at 23:00 Moscow time is "today" for a Moscow office even though it is
/// already tomorrow in UTC.
pub fn health(
    now: DateTime<Utc>,
    tasks_due: &[DateTime<Utc>],
    agreed_dates: &[NaiveDate],
    calendar: &WorkCalendar,
) -> Colour {
    let today = calendar.local_date(now);
    let task_colours = tasks_due.iter().map(|due| {
        if *due < now {
            Colour::Red
        } else if calendar.local_date(*due) == today {
            Colour::Yellow
        } else {
            Colour::Green
        }
    });
    let agreed_colours = agreed_dates.iter().map(|date| match date.cmp(&today) {
        std::cmp::Ordering::Less => Colour::Red,
        std::cmp::Ordering::Equal => Colour::Yellow,
        std::cmp::Ordering::Greater => Colour::Green,
    });
    // Colours are ordered Green < Yellow < Red: the worst one wins.
    task_colours
        .chain(agreed_colours)
        .max()
        .unwrap_or(Colour::Green)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn msk(d: u32, h: u32, min: u32) -> DateTime<Utc> {
        chrono_tz::Europe::Moscow
            .with_ymd_and_hms(2027, 3, d, h, min, 0)
            .single()
            .expect("valid Moscow time")
            .with_timezone(&Utc)
    }

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 3, d).expect("valid date")
    }

    #[test]
    fn nothing_due_is_green() {
        let cal = WorkCalendar::default();
        assert_eq!(health(msk(1, 10, 0), &[], &[], &cal), Colour::Green);
        assert_eq!(
            health(msk(1, 10, 0), &[msk(2, 10, 0)], &[date(3)], &cal),
            Colour::Green
        );
    }

    #[test]
    fn due_later_today_is_yellow() {
        let cal = WorkCalendar::default();
        assert_eq!(
            health(msk(1, 10, 0), &[msk(1, 18, 0)], &[], &cal),
            Colour::Yellow
        );
        assert_eq!(health(msk(1, 10, 0), &[], &[date(1)], &cal), Colour::Yellow);
    }

    #[test]
    fn anything_overdue_is_red_even_if_other_things_are_fine() {
        let cal = WorkCalendar::default();
        let now = msk(1, 10, 0);
        assert_eq!(
            health(now, &[msk(5, 10, 0), msk(1, 9, 59)], &[], &cal),
            Colour::Red
        );
        assert_eq!(
            health(now, &[msk(1, 18, 0)], &[date(28)], &cal),
            Colour::Yellow
        );
        // 2027-02-28: an agreed date that passed yesterday.
        let yesterday = NaiveDate::from_ymd_opt(2027, 2, 28).expect("date");
        assert_eq!(
            health(now, &[msk(5, 10, 0)], &[yesterday], &cal),
            Colour::Red
        );
    }

    #[test]
    fn today_is_judged_in_the_office_time_zone() {
        let cal = WorkCalendar::default();
        // 01:30 Moscow on 2 March is still 1 March in UTC; a task due at
        // 23:00 Moscow on 2 March is "today" for the office.
        let now = msk(2, 1, 30);
        assert_eq!(health(now, &[msk(2, 23, 0)], &[], &cal), Colour::Yellow);
        assert_eq!(health(now, &[msk(3, 0, 30)], &[], &cal), Colour::Green);
    }
}
