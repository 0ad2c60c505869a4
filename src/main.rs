/// mimalloc instead of glibc's malloc: a credential request makes dozens of small, short-lived allocations
/// (headers, JSON, the URL, log fields), and glibc's malloc/free were about a tenth of its instructions
/// (docs/PERFORMANCE.md). Built without transparent huge pages (`no_thp`): with them its arenas doubled the
/// broker's resident memory for no measurable speed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    presign_broker::cli::main()
}
