#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| presign_broker::fuzz_targets::policy_toml(data));
