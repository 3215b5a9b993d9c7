use crate::shared;

#[test]
fn generated_tables_match_the_generator() {
    let Some(shared) = shared() else { return };
    let fresh = ami_catalog_gen::generate(&shared).expect("generation succeeds");
    let path = ami_catalog_gen::default_output_path();
    let committed = std::fs::read_to_string(&path).expect("generated.rs is readable");
    if fresh != committed {
        let line = fresh
            .lines()
            .zip(committed.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| fresh.lines().count().min(committed.lines().count()));
        panic!(
            "{} is out of date (first difference at line {}): run `cargo run -p ami-catalog-gen`",
            path.display(),
            line + 1
        );
    }
}

#[test]
fn typed_modules_match_the_generator() {
    let Some(shared) = shared() else { return };
    let files = ami_catalog_gen::generate_files(&shared).expect("generation succeeds");
    assert_eq!(files.len(), 3, "tables, actions, events");
    for (path, fresh) in files {
        let committed = std::fs::read_to_string(&path).expect("generated file is readable");
        assert!(
            fresh == committed,
            "{} is out of date: run `cargo run -p ami-catalog-gen`",
            path.display()
        );
    }
}
