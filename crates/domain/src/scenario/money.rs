//! Money is kept in integer kopecks: sums of payments and shipments must
//! compare exactly ("оплачено 100%"), which floats cannot promise.

/// An amount in kopecks (1 ₽ = 100 коп.).
pub type Kopecks = i64;

/// Formats kopecks the way a Russian sales department reads them in the
/// feed: `1 234 567,89 ₽` (space-grouped roubles, comma before kopecks).
pub fn format_rub(amount: Kopecks) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    // unsigned_abs: i64::MIN has no positive i64 counterpart.
    let abs = amount.unsigned_abs();
    let roubles = (abs / 100).to_string();
    let kopecks = abs % 100;
    let mut grouped = String::with_capacity(roubles.len() + roubles.len() / 3);
    for (i, digit) in roubles.chars().enumerate() {
        if i > 0 && (roubles.len() - i) % 3 == 0 {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    format!("{sign}{grouped},{kopecks:02} ₽")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_small_and_grouped_amounts() {
        assert_eq!(format_rub(0), "0,00 ₽");
        assert_eq!(format_rub(5), "0,05 ₽");
        assert_eq!(format_rub(100_000), "1 000,00 ₽");
        assert_eq!(format_rub(123_456_789), "1 234 567,89 ₽");
        assert_eq!(format_rub(-150), "-1,50 ₽");
    }

    #[test]
    fn formats_extreme_amount_without_overflow() {
        assert!(format_rub(i64::MIN).starts_with('-'));
    }
}
