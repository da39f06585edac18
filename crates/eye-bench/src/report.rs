//! Results: a table for people, JSON for programs; repeated measurements and their medians.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub metric: String,
    /// The measurement, or the median of `samples` when the phase was repeated.
    pub value: f64,
    pub unit: String,
    /// The same-run baseline this value is compared with, when there is one.
    pub baseline: Option<f64>,
    pub ratio: Option<f64>,
    pub target: Option<String>,
    /// Every repetition's measurement, in order, when the phase was repeated.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub samples: Vec<f64>,
}

impl Row {
    pub fn new(scenario: &str, metric: &str, value: f64, unit: &str) -> Row {
        Row {
            scenario: scenario.into(),
            metric: metric.into(),
            value,
            unit: unit.into(),
            baseline: None,
            ratio: None,
            target: None,
            samples: Vec::new(),
        }
    }

    pub fn against(mut self, baseline: f64) -> Row {
        self.baseline = Some(baseline);
        self.ratio = (baseline > 0.0).then(|| self.value / baseline);
        self
    }

    /// Compares repeated measurements with a baseline repeated alongside them: the ratio
    /// is the median of the ratios of each pair, which cancels drift between repetitions.
    pub fn paired_with(mut self, baseline: &Sampled) -> Row {
        self.baseline = Some(baseline.median());
        let ratios: Sampled = self
            .samples
            .iter()
            .zip(&baseline.0)
            .filter(|(_, base)| **base > 0.0)
            .map(|(value, base)| value / base)
            .collect();
        self.ratio = (!ratios.0.is_empty()).then(|| ratios.median());
        self
    }

    pub fn target(mut self, target: &str) -> Row {
        self.target = Some(target.into());
        self
    }
}

/// The measurements of one repeated phase.
#[derive(Debug, Clone, Default)]
pub struct Sampled(pub Vec<f64>);

impl Sampled {
    pub fn push(&mut self, value: f64) {
        self.0.push(value);
    }

    pub fn median(&self) -> f64 {
        let mut sorted = self.0.clone();
        sorted.sort_by(f64::total_cmp);
        match sorted.len() {
            0 => 0.0,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        }
    }

    pub fn row(&self, scenario: &str, metric: &str, unit: &str) -> Row {
        let mut row = Row::new(scenario, metric, self.median(), unit);
        row.samples = self.0.clone();
        row
    }
}

impl FromIterator<f64> for Sampled {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Sampled {
        Sampled(iter.into_iter().collect())
    }
}

/// Measurements taken at intervals during one phase: a column per quantity, a line per
/// sample. Printed as a table of its own; in JSON, flattened into rows.
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub title: String,
    /// The name and unit of each column after the time.
    pub columns: Vec<(String, String)>,
    /// Seconds since the phase began, and a value per column.
    pub points: Vec<(f64, Vec<f64>)>,
}

impl Series {
    /// A row per value: scenario the title, metric the column and the time.
    pub fn rows(&self) -> Vec<Row> {
        self.points
            .iter()
            .flat_map(|(at, values)| {
                self.columns
                    .iter()
                    .zip(values)
                    .map(move |((name, unit), value)| {
                        Row::new(&self.title, &format!("{name} at {at:.0} s"), *value, unit)
                    })
            })
            .collect()
    }
}

pub fn print_series(series: &Series) {
    println!("\n{}", series.title);
    let headers: Vec<String> = series
        .columns
        .iter()
        .map(|(name, unit)| format!("{name} ({unit})"))
        .collect();
    let widths: Vec<usize> = headers.iter().map(|h| h.len().max(10)).collect();
    let mut line = format!("{:>7}", "t (s)");
    for (header, width) in headers.iter().zip(&widths) {
        line.push_str(&format!("  {header:>width$}"));
    }
    println!("{line}");
    for (at, values) in &series.points {
        let mut line = format!("{at:>7.0}");
        for (value, width) in values.iter().zip(&widths) {
            line.push_str(&format!("  {value:>width$.1}"));
        }
        println!("{line}");
    }
}

pub fn print_table(rows: &[Row]) {
    println!(
        "{:<40} {:<40} {:>14} {:<8} {:>14} {:>7}  {:<24} RANGE",
        "SCENARIO", "METRIC", "VALUE", "UNIT", "BASELINE", "RATIO", "TARGET"
    );
    for row in rows {
        let baseline = row.baseline.map_or("-".to_owned(), |b| format!("{b:.1}"));
        let ratio = row
            .ratio
            .map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
        let range = match row.samples.len() {
            0 | 1 => String::new(),
            n => {
                let low = row.samples.iter().copied().fold(f64::INFINITY, f64::min);
                let high = row
                    .samples
                    .iter()
                    .copied()
                    .fold(f64::NEG_INFINITY, f64::max);
                format!("median of {n}: {low:.0}..{high:.0}")
            }
        };
        println!(
            "{:<40} {:<40} {:>14.2} {:<8} {:>14} {:>7}  {:<24} {}",
            row.scenario,
            row.metric,
            row.value,
            row.unit,
            baseline,
            ratio,
            row.target.as_deref().unwrap_or(""),
            range
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(Sampled(vec![3.0, 1.0, 2.0]).median(), 2.0);
        assert_eq!(Sampled(vec![4.0, 1.0, 3.0, 2.0]).median(), 2.5);
        assert_eq!(Sampled::default().median(), 0.0);
    }

    #[test]
    fn paired_ratio_is_the_median_of_each_pairs_ratio() {
        let baseline = Sampled(vec![100.0, 200.0, 50.0]);
        let row = Sampled(vec![50.0, 60.0, 40.0])
            .row("s", "m", "u")
            .paired_with(&baseline);
        // Ratios 0.5, 0.3, 0.8: the median is 0.5, not 50/100 of the medians.
        assert_eq!(row.ratio, Some(0.5));
        assert_eq!(row.baseline, Some(100.0));
        assert_eq!(row.value, 50.0);
    }
}
