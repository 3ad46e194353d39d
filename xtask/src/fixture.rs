//! Splicing a provider fragment into a copy of `providers.yaml` (tests that append a provider,
//! such as `xtask/tests/fixtures/appended_tts_provider.yaml`).
//!
//! A fragment is YAML text with up to two top-level keys, indented exactly as in
//! `providers.yaml`:
//!
//! - `providers:`: provider blocks, inserted verbatim at the end of the spec's `providers:`
//!   mapping (before the comments that introduce the next top-level key);
//! - `capabilities:`: per capability (`  tts:`), an `    endpoints:` list whose entries are
//!   inserted verbatim at the end of the same list in the spec (a capability the spec lacks is
//!   added, and so is the `capabilities:` section).
//!
//! Comments and blank lines of the fragment outside those blocks are dropped. This is text
//! surgery, not YAML re-serialization: the spec's comments, order and layout stay as they are.

/// `spec` with `fragment` spliced in (see the module docs). Errors name what is wrong with the
/// fragment or the spec's layout.
pub fn append(spec: &str, fragment: &str) -> Result<String, String> {
    let parts = Fragment::parse(fragment)?;
    let mut lines: Vec<String> = spec.lines().map(str::to_owned).collect();
    if !parts.providers.is_empty() {
        let providers = top_level(&lines, "providers")
            .ok_or("the spec has no top-level `providers:` mapping")?;
        let end = block_end(&lines, providers + 1, 1);
        lines.splice(end..end, parts.providers.iter().cloned());
    }
    for (kind, entries) in &parts.capabilities {
        let caps = match top_level(&lines, "capabilities") {
            Some(i) => i,
            None => {
                lines.push("capabilities:".to_owned());
                lines.len() - 1
            }
        };
        let caps_end = block_end(&lines, caps + 1, 1);
        let header = format!("  {kind}:");
        let kind_at = (caps + 1..caps_end).find(|&i| lines[i] == header);
        let Some(kind_at) = kind_at else {
            let mut added = vec![header, "    endpoints:".to_owned()];
            added.extend(entries.iter().cloned());
            lines.splice(caps_end..caps_end, added);
            continue;
        };
        let kind_end = block_end(&lines, kind_at + 1, 3);
        let list = (kind_at + 1..kind_end)
            .find(|&i| lines[i] == "    endpoints:")
            .ok_or_else(|| {
                format!("capability `{kind}` of the spec has no `    endpoints:` list")
            })?;
        let list_end = block_end(&lines, list + 1, 5);
        lines.splice(list_end..list_end, entries.iter().cloned());
    }
    let mut out = lines.join("\n");
    out.push('\n');
    Ok(out)
}

/// The blocks of a fragment.
struct Fragment {
    /// Lines of the provider blocks (indented by two spaces and more).
    providers: Vec<String>,
    /// Per capability, the lines of its endpoint entries (indented by six spaces and more).
    capabilities: Vec<(String, Vec<String>)>,
}

impl Fragment {
    fn parse(text: &str) -> Result<Self, String> {
        let lines: Vec<&str> = text.lines().collect();
        let mut providers = Vec::new();
        let mut capabilities: Vec<(String, Vec<String>)> = Vec::new();
        let mut section = None;
        let mut in_endpoints = false;
        for (n, line) in lines.iter().enumerate() {
            if is_filler(line) && section.is_none() {
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            if indent == 0 && !is_filler(line) {
                section = match line.trim_end() {
                    "providers:" => Some("providers"),
                    "capabilities:" => Some("capabilities"),
                    other => {
                        return Err(format!(
                            "fragment line {}: `{other}`: expected `providers:` or `capabilities:`",
                            n + 1
                        ));
                    }
                };
                continue;
            }
            match section {
                Some("providers") => providers.push((*line).to_owned()),
                Some(_) if indent == 2 && !is_filler(line) => {
                    let kind = line.trim().trim_end_matches(':').to_owned();
                    capabilities.push((kind, Vec::new()));
                    in_endpoints = false;
                }
                Some(_) if indent == 4 && line.trim_end() == "    endpoints:" => {
                    in_endpoints = true
                }
                Some(_) if in_endpoints && (indent >= 6 || is_filler(line)) => {
                    let Some((_, entries)) = capabilities.last_mut() else {
                        return Err(format!(
                            "fragment line {}: an entry outside a capability",
                            n + 1
                        ));
                    };
                    entries.push((*line).to_owned());
                }
                Some(_) if is_filler(line) => {}
                _ => {
                    return Err(format!(
                        "fragment line {}: `{}` is not part of a provider or a capability's `endpoints`",
                        n + 1,
                        line.trim()
                    ));
                }
            }
        }
        trim_filler(&mut providers);
        for (_, entries) in &mut capabilities {
            trim_filler(entries);
        }
        Ok(Self {
            providers,
            capabilities,
        })
    }
}

/// A blank or comment-only line.
fn is_filler(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

fn trim_filler(lines: &mut Vec<String>) {
    while lines.last().is_some_and(|l| is_filler(l)) {
        lines.pop();
    }
}

/// The line `key:` at the top level.
fn top_level(lines: &[String], key: &str) -> Option<usize> {
    let wanted = format!("{key}:");
    lines.iter().position(|l| l.trim_end() == wanted)
}

/// Where the block starting at `from` ends: the first line indented by fewer than `min_indent`
/// + 1 spaces that is not filler, moved back over the filler (blank lines, comments) before it.
fn block_end(lines: &[String], from: usize, min_indent: usize) -> usize {
    let mut end = lines.len();
    for (i, line) in lines.iter().enumerate().skip(from) {
        let indent = line.len() - line.trim_start().len();
        if !is_filler(line) && indent < min_indent {
            end = i;
            break;
        }
    }
    while end > from && is_filler(&lines[end - 1]) {
        end -= 1;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "version: 1
providers:
  a:
    name: A

# Capabilities.
capabilities:
  tts:
    endpoints:
      - endpoint: a.x

  image:
    endpoints:
      - endpoint: a.y
";

    #[test]
    fn providers_and_entries_go_at_the_end_of_their_blocks() {
        let fragment = "# doc\nproviders:\n  b:\n    name: B\ncapabilities:\n  tts:\n    endpoints:\n      - endpoint: b.x\n        credits: 2\n  video:\n    endpoints:\n      - endpoint: b.v\n";
        let out = append(SPEC, fragment).expect("spliced");
        assert_eq!(
            out,
            "version: 1
providers:
  a:
    name: A
  b:
    name: B

# Capabilities.
capabilities:
  tts:
    endpoints:
      - endpoint: a.x
      - endpoint: b.x
        credits: 2

  image:
    endpoints:
      - endpoint: a.y
  video:
    endpoints:
      - endpoint: b.v
"
        );
    }

    #[test]
    fn a_fragment_with_other_keys_is_refused() {
        let err = append(SPEC, "defaults:\n  x: 1\n").expect_err("refused");
        assert!(
            err.contains("expected `providers:` or `capabilities:`"),
            "{err}"
        );
    }
}
