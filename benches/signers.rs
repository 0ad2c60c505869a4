//! Every signer next to its floor, wall clock: `cargo bench --bench signers`. The cases, and how each floor is
//! counted, are in `signers/cases.rs`; `benches/signer_instructions.rs` counts their instructions instead.
//! docs/PERFORMANCE.md has the figures.
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "signers/cases.rs"]
mod cases;

fn signers(c: &mut Criterion) {
    for case in cases::all() {
        let mut group = c.benchmark_group(case.group);
        for (name, run) in case.functions() {
            group.bench_function(name, |b| b.iter(run));
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = signers
}
criterion_main!(benches);
