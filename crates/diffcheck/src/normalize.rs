//! Turns an answer into lines that can be compared across brokers: the
//! pretty `Debug` form, with the fields that must differ between two
//! brokers (addresses, ids they generate, clocks, throttling, wording of
//! error messages) replaced by a placeholder.

/// Fields whose values differ between any two brokers by nature.
const VARYING: &[&str] = &[
    "throttle_time_ms",
    "host",
    "port",
    "cluster_id",
    "topic_id",
    "member_id",
    "leader",
    "log_append_time_ms",
    "session_id",
    // When a transaction started: each broker's clock.
    "transaction_start_time_ms",
    "unknown_tagged_fields",
    // Wording, and whether a message is given at all, are each broker's
    // own (Kafka leaves most of them null); clients only show them.
    "error_message",
];

/// Fields compared by presence only: the wording is each broker's own.
const PRESENCE_ONLY: &[&str] = &["documentation"];

/// Arrays whose order is each broker's own (Kafka lists a topic's
/// partitions and a CreateTopics answer's configs in hash order): their
/// elements are sorted before comparing.
const UNORDERED: &[&str] = &[
    "partitions",
    "configs",
    "topics",
    "groups",
    "members",
    "results",
    "responses",
    "api_keys",
    "transaction_states",
    "results_by_transaction",
    "results_by_topic_v3_and_below",
    "results_by_partition",
    // Client quotas: Kafka keeps entities and their values in hash maps.
    "entries",
    "entity",
    "values",
];

pub fn normalize(debug: &str) -> Vec<String> {
    sort_unordered(&mask(debug))
}

/// A line and, when it opens a bracket, the lines up to its closing one.
struct Node {
    line: String,
    children: Vec<Node>,
    close: Option<String>,
}

fn parse(lines: &[String], at: &mut usize) -> Node {
    let line = lines[*at].clone();
    *at += 1;
    let opens = line.trim_end_matches(',').ends_with(['(', '[', '{']);
    let mut node = Node {
        line,
        children: Vec::new(),
        close: None,
    };
    if !opens {
        return node;
    }
    let indent = indent_of(&node.line);
    while *at < lines.len() {
        let next = &lines[*at];
        if indent_of(next) == indent && next.trim_start().starts_with([')', ']', '}']) {
            node.close = Some(next.clone());
            *at += 1;
            break;
        }
        node.children.push(parse(lines, at));
    }
    node
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn render(node: &Node, out: &mut Vec<String>) {
    out.push(node.line.clone());
    for child in &node.children {
        render(child, out);
    }
    if let Some(close) = &node.close {
        out.push(close.clone());
    }
}

fn sort_node(node: &mut Node) {
    for child in &mut node.children {
        sort_node(child);
    }
    let field = node.line.trim_start().split(": ").next().unwrap_or("");
    if !UNORDERED.contains(&field) {
        return;
    }
    if node.line.trim_end().ends_with('[') {
        sort_elements(node);
    } else if node.line.trim_end().ends_with("Some(") {
        // A nullable array: `Some(` then the `[` line.
        if let Some(array) = node.children.first_mut() {
            sort_elements(array);
        }
    }
}

fn sort_elements(array: &mut Node) {
    array.children.sort_by_cached_key(|child| {
        let mut text = Vec::new();
        render(child, &mut text);
        text.join("\n")
    });
}

fn sort_unordered(lines: &[String]) -> Vec<String> {
    let mut at = 0;
    let mut out = Vec::new();
    while at < lines.len() {
        let mut node = parse(lines, &mut at);
        sort_node(&mut node);
        render(&node, &mut out);
    }
    out
}

fn mask(debug: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = debug.lines().peekable();
    while let Some(line) = lines.next() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim_start();
        let Some((field, value)) = trimmed.split_once(": ") else {
            out.push(line.to_string());
            continue;
        };
        let varying = VARYING.contains(&field);
        let presence = PRESENCE_ONLY.contains(&field);
        if !varying && !presence {
            out.push(line.to_string());
            continue;
        }
        let replacement = if varying {
            "_".to_string()
        } else if value.starts_with("None") {
            "None".to_string()
        } else {
            "Some(_)".to_string()
        };
        out.push(format!("{}{field}: {replacement},", " ".repeat(indent)));
        if opens_block(value) {
            // Skip the value's lines up to its closing bracket at our indent.
            for next in lines.by_ref() {
                let next_indent = next.len() - next.trim_start().len();
                if next_indent == indent && next.trim_start().starts_with([')', ']', '}']) {
                    break;
                }
            }
        }
    }
    out
}

fn opens_block(value: &str) -> bool {
    let value = value.trim_end_matches(',');
    value.ends_with('(') || value.ends_with('[') || value.ends_with('{')
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn varying_fields_are_masked_including_multi_line_values() {
        let debug = "Response {\n    throttle_time_ms: 5,\n    topic_id: Uuid(\n        1,\n    ),\n    error_code: 3,\n    error_message: Some(\n        \"x\",\n    ),\n    name: \"a\",\n}";
        assert_eq!(
            normalize(debug),
            vec![
                "Response {",
                "    throttle_time_ms: _,",
                "    topic_id: _,",
                "    error_code: 3,",
                "    error_message: _,",
                "    name: \"a\",",
                "}",
            ]
        );
    }
}
