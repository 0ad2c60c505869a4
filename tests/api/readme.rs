//! README's shell walk-throughs work when pasted in order: every variable is set by an earlier command, and
//! every curl fails loudly (`--fail-with-body`), so a failed step is never silent (issue 10 #16).
use std::collections::HashSet;

fn sh_blocks(readme: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for (i, line) in readme.lines().enumerate() {
        match (&mut current, line.trim_start()) {
            (None, l) if l == "```sh" || l == "```bash" => current = Some(String::new()),
            (Some(block), "```") => {
                blocks.push((i, std::mem::take(block)));
                current = None;
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            _ => {}
        }
    }
    blocks
}

/// `NAME=` at the start of a command (also after `export`, `&&`, `;`, `$(`), and `for NAME in`.
fn assigned(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let words = line.split(|c: char| c.is_whitespace() || c == ';' || c == '(' || c == '&');
    let mut after_for = false;
    for word in words {
        if after_for {
            names.push(word.to_string());
            after_for = false;
        }
        if word == "for" {
            after_for = true;
        }
        if let Some((name, _)) = word.split_once('=') {
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                names.push(name.to_string());
            }
        }
    }
    names
}

/// `$NAME` and `${NAME}` uses (upper-case names: the walk-throughs' own variables).
fn used(line: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes = line.as_bytes();
    for (i, _) in line.match_indices('$') {
        let rest = &line[i + 1..];
        let rest = rest.strip_prefix('{').unwrap_or(rest);
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        // `\$` is escaped; a name must start with a letter.
        if !name.is_empty()
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && (i == 0 || bytes[i - 1] != b'\\')
        {
            names.push(name);
        }
    }
    names
}

#[test]
fn readme_walk_throughs_define_every_variable_and_fail_loudly() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    // Set by the shell or by the reader's machine, not by the walk-through.
    let mut defined: HashSet<String> = ["PWD", "HOME", "PATH"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut problems = Vec::new();
    for (end_line, block) in sh_blocks(&readme) {
        for line in block.lines() {
            let code = line.split(" # ").next().unwrap_or_default();
            if code.trim_start().starts_with('#') {
                continue;
            }
            defined.extend(assigned(code));
            for name in used(code) {
                if !defined.contains(&name) {
                    problems.push(format!(
                        "README block ending at line {}: ${name} is not set earlier: {line}",
                        end_line + 1
                    ));
                }
            }
            if code.contains("curl ") && !code.contains("--fail-with-body") && !code.contains(" -f")
            {
                problems.push(format!(
                    "README block ending at line {}: curl without --fail-with-body: {line}",
                    end_line + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_readme_sample_config_contacts_no_outside_host_at_start_up() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    // A JWKS is fetched at start-up and then periodically: the sample keeps it commented out.
    let active_jwks = readme
        .lines()
        .filter(|l| l.trim_start().starts_with("[auth.jwks]"))
        .count();
    assert_eq!(
        active_jwks, 0,
        "an active [auth.jwks] in README's sample config"
    );
}
