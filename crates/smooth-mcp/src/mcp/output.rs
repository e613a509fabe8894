//! Output shaping: caps what one result may carry, and says so when it cut.

use serde_json::Value;

/// Cuts `output` so its JSON text fits in `cap` characters. Returns the value to send and
/// whether it was cut. A cut value becomes a string holding the start of the JSON text, so
/// the ids around it in the result are never lost.
pub fn cap_output(output: Value, cap: usize) -> (Value, bool) {
    let text = match &output {
        Value::String(s) => {
            if s.chars().count() <= cap {
                return (output, false);
            }
            s.clone()
        }
        other => {
            let text = other.to_string();
            if text.chars().count() <= cap {
                return (output, false);
            }
            text
        }
    };
    let cut: String = text.chars().take(cap).collect();
    (Value::String(cut), true)
}

pub fn truncation_note(cap: usize) -> String {
    format!(
        "The output was longer than {cap} characters and was cut. Ask for less (a response_model with only the fields you need), or raise --output-cap."
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn small_values_pass_untouched() {
        assert_eq!(cap_output(json!({"a": 1}), 100), (json!({"a": 1}), false));
        assert_eq!(cap_output(json!("héllo"), 5), (json!("héllo"), false));
    }

    #[test]
    fn large_values_are_cut_on_char_boundaries() {
        let (v, cut) = cap_output(json!("ééééé"), 3);
        assert!(cut);
        assert_eq!(v, json!("ééé"));
        let (v, cut) = cap_output(json!({"k": "x".repeat(50)}), 10);
        assert!(cut);
        assert_eq!(v, json!("{\"k\":\"xxxx"));
    }
}
