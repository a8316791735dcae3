//! Reading a plan file, the one way every command does it: JSON, with `//` and `/* */`
//! comments allowed, so the commented output of `carveout example` is a plan file as
//! printed. The Step Functions console takes bare JSON (`carveout example --plain`);
//! `carveout start` sends the parsed plan, never the file's text.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

/// The plan file's JSON value (not yet checked as a plan: `Plan::parse` does that).
///
/// Errors name the file and what is wrong, with the line and column of the file as
/// written (comments are blanked, not removed): `plan.json: not JSON: expected value at
/// line 3 column 5`.
pub fn read(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut json = String::with_capacity(text.len());
    json_comments::StripComments::new(text.as_bytes())
        .read_to_string(&mut json)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&json).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Writes `text` to a file of its own under the temporary directory.
    fn file(name: &str, text: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("carveout-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_commented_example_reads_as_the_plain_one() {
        let commented = file("commented.json", &crate::example::commented());
        let plain = file("plain.json", &crate::example::plain());
        assert_eq!(read(&commented).unwrap(), read(&plain).unwrap());
    }

    #[test]
    fn a_bad_file_is_named_with_the_line_as_written() {
        let bad = file("bad.json", "// a comment\n{\n  \"migrationId\": ,\n}\n");
        let err = read(&bad).unwrap_err();
        assert!(err.contains("not JSON") && err.contains("line 3"), "{err}");
        assert!(err.starts_with(&bad.display().to_string()), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = read(Path::new("/nonexistent/plan.json")).unwrap_err();
        assert!(err.starts_with("/nonexistent/plan.json: "), "{err}");
    }
}
