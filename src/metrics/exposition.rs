//! The Prometheus text format (0.0.4) of the OpenMetrics exposition, for scrapers that do not
//! ask for OpenMetrics: a counter family is named by its `_total` sample, and the OpenMetrics
//! markers (`# EOF`, `# UNIT`, `_created` samples, exemplars) are left out.

use std::collections::HashSet;

/// The media type of [`to_prometheus_text`]'s output.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Rewrites an OpenMetrics text exposition in the Prometheus text format.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .filter(|(_, kind)| *kind == "counter")
        .map(|(name, _)| name)
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let comment = ["# HELP ", "# TYPE "].into_iter().find(|p| line.starts_with(p));
        if let Some(prefix) = comment {
            let rest = &line[prefix.len()..];
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = if counters.contains(name) { format!("{name}_total") } else { name.to_owned() };
            out.push_str(&format!("{prefix}{name} {tail}\n"));
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        if name.strip_suffix("_created").is_some_and(|family| counters.contains(family)) {
            continue;
        }
        // An exemplar follows the value after " # ".
        let sample = line.split_once(" # ").map_or(line, |(sample, _)| sample);
        out.push_str(sample);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_take_their_sample_name_and_openmetrics_markers_go() {
        let openmetrics = "# HELP x_requests Calls.\n# TYPE x_requests counter\n# UNIT x_requests calls\n\
            x_requests_total{code=\"Ok\"} 3 # {trace=\"a\"} 1.0\nx_requests_created 1.7e9\n\
            # HELP x_depth Depth.\n# TYPE x_depth gauge\nx_depth 2\n# EOF\n";
        assert_eq!(
            to_prometheus_text(openmetrics),
            "# HELP x_requests_total Calls.\n# TYPE x_requests_total counter\nx_requests_total{code=\"Ok\"} 3\n\
             # HELP x_depth Depth.\n# TYPE x_depth gauge\nx_depth 2\n"
        );
    }
}
