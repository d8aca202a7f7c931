//! README.md as a new user reads it: short, and its code compiles as it stands.

const README: &str = include_str!("../README.md");

#[test]
fn the_use_it_from_your_crate_code_is_downstreams_main_rs_which_ci_builds_and_runs() {
    let marker = "<!-- downstream/src/main.rs -->\n```rust\n";
    let start = README
        .find(marker)
        .expect("README marks the downstream code")
        + marker.len();
    let end = start + README[start..].find("```\n").expect("the code block ends");
    let main_rs = include_str!("../downstream/src/main.rs");
    assert_eq!(
        &README[start..end],
        main_rs,
        "README's code and downstream/src/main.rs differ"
    );
}

#[test]
fn readme_opens_with_the_main_job_and_the_test_command_and_stays_a_guide() {
    let lines: Vec<&str> = README.lines().collect();
    assert!(
        lines.len() <= 250,
        "README.md has {} lines (at most 250)",
        lines.len()
    );
    assert!(lines[3].starts_with("cargo run --release --example complex_cnn"));
    let marker = lines
        .iter()
        .position(|l| *l == "<!-- test-command -->")
        .unwrap();
    assert!(lines[marker + 2].contains("cargo test"));
    // Every file README links to exists (crates.io renders the packaged README: see Cargo.toml).
    for link in README.split("](").skip(1) {
        let target = &link[..link.find(')').unwrap()];
        if !target.starts_with("http") {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(target);
            assert!(
                path.is_file(),
                "README links to {target}, which is not there"
            );
        }
    }
}
