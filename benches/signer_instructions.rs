//! Instructions per call of every signer and its floor (the cases of `signers/cases.rs`), counted by callgrind,
//! so the ratio does not depend on the load of the (shared) machine: `scripts/signer_instructions.sh` runs this
//! binary once per function under `valgrind --tool=callgrind --toggle-collect=*measured_calls*`.
//!
//! `signer_instructions` lists `group/function` names; `signer_instructions GROUP/FUNCTION N` calls that
//! function once untimed (first-use work such as the day's signing key), then N times inside `measured_calls`.
//! Note: valgrind's CPU has no SHA extensions, so the hashes take their portable code path here: the floors
//! count more instructions than they run natively (see docs/PERFORMANCE.md).
use std::hint::black_box;

#[path = "signers/cases.rs"]
mod cases;

#[inline(never)]
fn measured_calls(run: &dyn Fn(), n: u64) {
    for _ in 0..black_box(n) {
        run();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cases = cases::all();
    let names = cases.iter().flat_map(|case| {
        case.functions()
            .into_iter()
            .map(move |(name, run)| (format!("{}/{name}", case.group), run))
    });
    match &args[..] {
        [] => names.for_each(|(name, _)| println!("{name}")),
        [wanted, n] => {
            let n: u64 = n.parse().expect("N is a count");
            let (_, run) = names
                .into_iter()
                .find(|(name, _)| name == wanted)
                .unwrap_or_else(|| panic!("no function {wanted}"));
            run();
            measured_calls(run, n);
        }
        _ => panic!("usage: signer_instructions [GROUP/FUNCTION N]"),
    }
}
