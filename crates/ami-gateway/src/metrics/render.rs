//! The Prometheus text exposition format (version 0.0.4), written by hand: `# HELP` and
//! `# TYPE` lines, samples with escaped label values, histograms as cumulative buckets.

use std::fmt::{Display, Write as _};

use super::registry::{BUCKETS, Histogram};

/// A metric family's type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// An exposition being written.
#[derive(Debug, Default)]
pub(crate) struct Exposition {
    out: String,
}

/// A label value as the format wants it: backslash, quote and line feed escaped.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Exposition {
    pub(crate) fn new() -> Self {
        Self {
            out: String::with_capacity(4096),
        }
    }

    /// Starts a family: its help text and type.
    pub(crate) fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    /// One sample: `name{label="value",...} value` (no braces without labels).
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out.push_str(name);
        self.labels(labels, None);
        let _ = writeln!(self.out, " {value}");
    }

    /// A histogram's samples: cumulative `_bucket`s (then `+Inf`), `_sum` and `_count`.
    pub(crate) fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &Histogram) {
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter()) {
            cumulative += count;
            let _ = write!(self.out, "{name}_bucket");
            self.labels(labels, Some(&bound.to_string()));
            let _ = writeln!(self.out, " {cumulative}");
        }
        let _ = write!(self.out, "{name}_bucket");
        self.labels(labels, Some("+Inf"));
        let _ = writeln!(self.out, " {}", histogram.count);
        let _ = write!(self.out, "{name}_sum");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", histogram.sum);
        let _ = write!(self.out, "{name}_count");
        self.labels(labels, None);
        let _ = writeln!(self.out, " {}", histogram.count);
    }

    /// The text written.
    pub(crate) fn finish(self) -> String {
        self.out
    }

    fn labels(&mut self, labels: &[(&str, &str)], le: Option<&str>) {
        if labels.is_empty() && le.is_none() {
            return;
        }
        self.out.push('{');
        let mut first = true;
        for (name, value) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
            if !first {
                self.out.push(',');
            }
            first = false;
            let _ = write!(self.out, "{name}=\"{}\"", escape(value));
        }
        self.out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn samples_and_histograms_are_written_in_the_text_format() {
        let mut exposition = Exposition::new();
        exposition.family("up", Kind::Gauge, "Whether it is up.");
        exposition.sample("up", &[], 1);
        exposition.sample("up", &[("server", "a\"b")], 0.5);
        let mut histogram = Histogram::default();
        histogram.observe(0.003);
        exposition.histogram("t", &[("action", "Ping")], &histogram);
        let text = exposition.finish();
        assert!(text.starts_with("# HELP up Whether it is up.\n# TYPE up gauge\nup 1\n"));
        assert!(text.contains("up{server=\"a\\\"b\"} 0.5\n"), "{text}");
        assert!(
            text.contains("t_bucket{action=\"Ping\",le=\"0.0025\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("t_bucket{action=\"Ping\",le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("t_bucket{action=\"Ping\",le=\"+Inf\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("t_sum{action=\"Ping\"} 0.003\nt_count{action=\"Ping\"} 1\n"));
    }
}
