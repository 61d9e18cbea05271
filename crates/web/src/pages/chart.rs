//! Charts as inline SVG drawn on the server: no script, and they print.
//! Colours are presentation attributes (the pages' CSP forbids inline CSS).

use std::fmt::Write;

use super::html::Esc;
use leadgate_core::reports::Chart;

const PALETTE: [&str; 8] = [
    "#2f6fdb", "#f0a020", "#27a060", "#8e44ad", "#d9463b", "#16a0a0", "#7f8c8d", "#c86414",
];

fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// 1, 2, 5 × 10ⁿ: a round step so that the axis has about four lines.
fn nice_step(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let raw = max / 4.0;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let step = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    (step * mag).max(1.0)
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}").replace('.', ",")
    }
}

pub fn svg(chart: &Chart) -> String {
    let total: f64 = chart.series.iter().flat_map(|s| s.values.iter()).sum();
    if chart.categories.is_empty() || total == 0.0 {
        return "<p class=\"empty\">За период данных нет.</p>".to_owned();
    }
    match chart.kind.as_str() {
        "bars" => bars(chart),
        _ => columns(chart),
    }
}

/// Horizontal bars: one per category, the label left, the value right.
fn bars(chart: &Chart) -> String {
    let values = chart
        .series
        .first()
        .map(|s| s.values.clone())
        .unwrap_or_default();
    let max = values.iter().copied().fold(0.0, f64::max).max(1.0);
    let (label_w, bar_w, row_h) = (220.0, 560.0, 28.0);
    let height = row_h * chart.categories.len() as f64 + 10.0;
    let width = label_w + bar_w + 70.0;
    let mut out = format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        Esc(&chart.title)
    );
    for (i, category) in chart.categories.iter().enumerate() {
        let v = values.get(i).copied().unwrap_or(0.0);
        let y = 5.0 + row_h * i as f64;
        let w = (v / max * bar_w).max(if v > 0.0 { 2.0 } else { 0.0 });
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"13\" fill=\"#1d2433\">{}</text>\
             <rect x=\"{label_w}\" y=\"{}\" width=\"{w:.1}\" height=\"{}\" rx=\"3\" fill=\"{}\"><title>{}: {}</title></rect>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"13\" fill=\"#1d2433\">{}</text>",
            label_w - 8.0,
            y + 18.0,
            Esc(category),
            y + 4.0,
            row_h - 8.0,
            colour(0),
            Esc(category),
            num(v),
            label_w + w + 6.0,
            y + 18.0,
            num(v)
        );
    }
    out.push_str("</svg>");
    out
}

/// Columns per category; several series are stacked, with a legend.
fn columns(chart: &Chart) -> String {
    let n = chart.categories.len();
    let sums: Vec<f64> = (0..n)
        .map(|i| {
            chart
                .series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = sums.iter().copied().fold(0.0, f64::max);
    let step = nice_step(max);
    let top = (max / step).ceil().max(1.0) * step;
    let (left, plot_w, plot_h, top_pad) = (48.0, 820.0, 220.0, 12.0);
    let legend = chart.series.len() > 1 || chart.kind == "stacked";
    let legend_h = if legend { 26.0 } else { 0.0 };
    let label_h = 44.0;
    let width = left + plot_w + 12.0;
    let height = top_pad + plot_h + label_h + legend_h;
    let slot = plot_w / n as f64;
    let bar = (slot * 0.72).min(48.0);
    let mut out = format!(
        "<svg class=\"chart\" role=\"img\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        Esc(&chart.title)
    );
    let mut tick = 0.0;
    while tick <= top + 0.001 {
        let y = top_pad + plot_h - tick / top * plot_h;
        let _ = write!(
            out,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#d5d9e0\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\" font-size=\"11\" fill=\"#5b6475\">{}</text>",
            left + plot_w,
            left - 6.0,
            y + 4.0,
            num(tick)
        );
        tick += step;
    }
    // Every label when they fit, else every k-th.
    let every = ((n as f64 * 42.0 / plot_w).ceil() as usize).max(1);
    for (i, sum) in sums.iter().copied().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let mut base = 0.0;
        for (s, series) in chart.series.iter().enumerate() {
            let v = series.values.get(i).copied().unwrap_or(0.0);
            if v <= 0.0 {
                continue;
            }
            let h = v / top * plot_h;
            let y = top_pad + plot_h - base - h;
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"{}\">\
                 <title>{} — {}: {}</title></rect>",
                colour(s),
                Esc(&chart.categories[i]),
                Esc(&series.name),
                num(v)
            );
            base += h;
        }
        if chart.kind == "histogram" && sum > 0.0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#1d2433\">{}</text>",
                x + bar / 2.0,
                top_pad + plot_h - base - 4.0,
                num(sum)
            );
        }
        if i % every == 0 {
            let cx = x + bar / 2.0;
            let ly = top_pad + plot_h + 16.0;
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{ly:.1}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#1d2433\">{}</text>",
                Esc(&chart.categories[i])
            );
        }
    }
    if legend {
        let mut x = left;
        let y = top_pad + plot_h + label_h;
        for (s, series) in chart.series.iter().enumerate() {
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"12\" fill=\"#1d2433\">{}</text>",
                y,
                colour(s),
                x + 16.0,
                y + 11.0,
                Esc(&series.name)
            );
            x += 30.0 + 7.5 * series.name.chars().count() as f64;
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use leadgate_core::reports::Series;

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(10.0), 5.0);
        assert_eq!(nice_step(37.0), 10.0);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn labels_are_escaped_and_empty_charts_say_so() {
        let chart = Chart {
            kind: "bars".into(),
            title: "t".into(),
            categories: vec!["<b>".into()],
            series: vec![Series {
                name: "s".into(),
                values: vec![3.0],
            }],
        };
        let out = svg(&chart);
        assert!(out.starts_with("<svg"));
        assert!(out.contains("&lt;b&gt;"));
        let empty = Chart {
            series: vec![Series {
                name: "s".into(),
                values: vec![0.0],
            }],
            ..chart
        };
        assert!(svg(&empty).contains("данных нет"));
    }
}
