//! `evtrace convert FILE... -o OUT --to perfetto|chrome-json`: log files as a timeline that
//! Perfetto's UI, chrome://tracing or speedscope open.
//!
//! The items are read once, in time order, and handed to a [`Sink`] as they come: memory holds
//! the processes and threads seen, the activities still open and the sink's buffers, never the
//! trace. Exit status as `fmt`'s: 1 when part of the input was damaged (what was readable is
//! converted), 2 for bad arguments or an output that exists without `--force`.

mod chrome;
mod model;
mod perfetto;
mod progress;
mod proto;

use std::fs::OpenOptions;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use evtrace_runtime::etl::Value;

use crate::input::{self, InputArgs};

/// Arguments of `evtrace convert`.
#[derive(Args, Debug)]
pub struct ConvertArgs {
    /// Log files to read (up to 64), merged by time.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The file to write.
    #[arg(short, long, value_name = "OUT")]
    output: PathBuf,
    /// The format to write.
    #[arg(long, value_enum, value_name = "FORMAT")]
    to: Format,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    force: bool,
    /// No progress line on stderr.
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    window: InputArgs,
}

/// Output formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// Perfetto's protobuf trace (.perfetto-trace), for ui.perfetto.dev.
    Perfetto,
    /// The Trace Event Format (JSON), for chrome://tracing, speedscope and Perfetto.
    ChromeJson,
}

/// Where a timeline item goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Track {
    /// A thread's own track.
    Thread {
        /// Process id.
        pid: u32,
        /// Thread id.
        tid: u32,
    },
    /// An activity that stopped on another thread than it started on (or overlapped another
    /// one on its thread): a track of its own under its process.
    Async {
        /// Process of the start.
        pid: u32,
        /// Thread of the start.
        tid: u32,
        /// The activity id, folded to 64 bits.
        id: u64,
    },
    /// Loss reports.
    Losses,
    /// Items that carry no process and thread.
    Unattributed,
}

/// The timeline that [`model`] makes of the items; each format writes it its way.
pub trait Sink {
    /// A process, when first seen and again when its name is learned.
    fn process(&mut self, pid: u32, name: Option<&str>) -> io::Result<()>;
    /// A thread, when first seen.
    fn thread(&mut self, pid: u32, tid: u32) -> io::Result<()>;
    /// A slice from `begin` to `end` (Unix nanoseconds) on `track`.
    fn slice(&mut self, s: &Slice<'_>, end: i64) -> io::Result<()>;
    /// An instant event.
    fn instant(&mut self, s: &Slice<'_>) -> io::Result<()>;
    /// After the last item.
    fn finish(&mut self) -> io::Result<()>;
}

/// What a slice or instant says.
pub struct Slice<'a> {
    /// Where it goes.
    pub track: Track,
    /// Its name (the event's, or a message's text).
    pub name: &'a str,
    /// Its category (the provider).
    pub category: &'a str,
    /// When it happened (or began), Unix nanoseconds.
    pub time: i64,
    /// Its fields.
    pub args: &'a [(String, Value)],
}

/// Runs the command.
pub fn run(args: ConvertArgs) -> ExitCode {
    const CMD: &str = "evtrace convert";
    let mut reader = match input::open(&args.files, &args.window) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{CMD}: {e}");
            return ExitCode::from(2);
        }
    };
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .create_new(!args.force)
        .truncate(true)
        .open(&args.output);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            eprintln!(
                "{CMD}: {} exists; give --force to overwrite it",
                args.output.display()
            );
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("{CMD}: {}: {e}", args.output.display());
            return ExitCode::from(2);
        }
    };
    let out = BufWriter::with_capacity(1 << 20, file);
    let progress = progress::Progress::new(!args.quiet, &reader);
    let result = match args.to {
        Format::Perfetto => model::convert(&mut reader, perfetto::Writer::new(out), progress)
            .and_then(|mut w| w.flush_all()),
        Format::ChromeJson => model::convert(&mut reader, chrome::Writer::new(out), progress)
            .and_then(|mut w| w.flush_all()),
    };
    if let Err(e) = result {
        eprintln!("{CMD}: writing {}: {e}", args.output.display());
        return ExitCode::FAILURE;
    }
    if input::report_problems(CMD, &reader) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// A sink that ends in a file to flush.
pub trait Flush {
    /// Flushes what is buffered.
    fn flush_all(&mut self) -> io::Result<()>;
}

impl<W: Write> Flush for perfetto::Writer<W> {
    fn flush_all(&mut self) -> io::Result<()> {
        self.out().flush()
    }
}

impl<W: Write> Flush for chrome::Writer<W> {
    fn flush_all(&mut self) -> io::Result<()> {
        self.out().flush()
    }
}
