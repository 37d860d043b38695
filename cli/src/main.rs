//! The `mqadmin` binary: runs [`cli::run`] and turns an error into one line on stderr and exit
//! status 1.

use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: a consumer decodes every pulled message into owned
/// fields (topic, properties, ids), and `benchConsumer` spent a third of its CPU in glibc's
/// malloc and free (consolidating its fast bins after every large pull body); with this
/// allocator the same client consumes a backlog ~1.5x faster (BENCHMARKS.md, issue 23).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mqadmin: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout();
    match runtime.block_on(cli::run(&args, &mut stdout)) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`mqadmin topicList | head`): nothing left to say to anyone.
        Err(cli::error::CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
