//! Results: a table for people, JSON for programs.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: String,
    pub metric: String,
    pub value: f64,
    pub unit: String,
    /// The same-run baseline this value is compared with, when there is one.
    pub baseline: Option<f64>,
    pub ratio: Option<f64>,
    pub target: Option<String>,
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
        }
    }

    pub fn against(mut self, baseline: f64) -> Row {
        self.baseline = Some(baseline);
        self.ratio = (baseline > 0.0).then(|| self.value / baseline);
        self
    }

    pub fn target(mut self, target: &str) -> Row {
        self.target = Some(target.into());
        self
    }
}

pub fn print_table(rows: &[Row]) {
    println!(
        "{:<34} {:<30} {:>14} {:<8} {:>14} {:>7}  TARGET",
        "SCENARIO", "METRIC", "VALUE", "UNIT", "BASELINE", "RATIO"
    );
    for row in rows {
        let baseline = row.baseline.map_or("-".to_owned(), |b| format!("{b:.1}"));
        let ratio = row
            .ratio
            .map_or("-".to_owned(), |r| format!("{:.0}%", r * 100.0));
        println!(
            "{:<34} {:<30} {:>14.2} {:<8} {:>14} {:>7}  {}",
            row.scenario,
            row.metric,
            row.value,
            row.unit,
            baseline,
            ratio,
            row.target.as_deref().unwrap_or("")
        );
    }
}
