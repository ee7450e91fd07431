//! The kernel logger's share: its events reach their session the way a producer's do. The
//! kernel sources write into a proxy session inside the daemon, and its finished buffers are
//! handed to the daemon like a producer's, which puts them in the file, gives them to the
//! real-time consumer, or keeps them in the ring. Every mode then works for the kernel logger
//! as it does for any system session.

use std::sync::Arc;

use crate::error::{Error, ErrorCode, Result};
use crate::kernel::{KernelFlags, KernelLogger};
use crate::session::region::Region;
use crate::session::{processor_count, properties, Outbound, Session, SessionProperties, Shipped};

/// Hands copied buffers, the share's EventsLost growth and the number of buffers it could not
/// copy to the daemon; false when the session is gone.
pub(crate) type HandOver = Box<dyn Fn(Vec<Vec<u8>>, u64, u64) -> bool + Send>;

/// The share's side of the hand-over: copies finished buffers out of the region.
struct InProcess {
    region: Arc<Region>,
    buffer_bytes: usize,
    hand_over: HandOver,
    /// EventsLost already handed over.
    reported: u64,
}

impl Outbound for InProcess {
    fn ship(&mut self, buffers: &[Shipped], events_lost: u64) -> std::io::Result<()> {
        // The proxy's own pool lies inside the region, so every buffer should be there; one
        // that is not is counted lost, as a producer's is.
        let copies: Vec<Vec<u8>> = buffers
            .iter()
            .filter_map(|s| {
                self.region
                    .copy_buffer(s.index as usize, self.buffer_bytes, s.used as usize)
            })
            .collect();
        let missing = (buffers.len() - copies.len()) as u64;
        let delta = events_lost.saturating_sub(self.reported);
        if (self.hand_over)(copies, delta, missing) {
            self.reported = self.reported.max(events_lost);
            Ok(())
        } else {
            Err(std::io::Error::other("the kernel logger's session is gone"))
        }
    }

    fn finish(&mut self, events_lost: u64) {
        let delta = events_lost.saturating_sub(self.reported);
        if delta > 0 && (self.hand_over)(Vec::new(), delta, 0) {
            self.reported = events_lost;
        }
    }
}

/// Starts the kernel logger for the system session `name` whose producers' shares are made with
/// `share`: its sources write into a share of the session inside the daemon.
pub(crate) fn start(
    name: &str,
    flags: KernelFlags,
    share: &SessionProperties,
    hand_over: HandOver,
) -> Result<KernelLogger> {
    let mut props = share.clone();
    // A proxy lives in the daemon's own session table, beside the session it feeds.
    props.name = format!("{name} (kernel events)");
    let resolved = properties::validate_proxy(props.clone(), processor_count())?;
    let len = resolved.buffer_bytes * resolved.props.maximum_buffers as usize;
    let (region, _fd) = Region::create("evtrace-kernel", len).map_err(|e| {
        Error::new(
            ErrorCode::NoSystemResources,
            format!("no buffers for the kernel logger: {e}"),
        )
    })?;
    let region = Arc::new(region);
    let outbound = InProcess {
        region: region.clone(),
        buffer_bytes: resolved.buffer_bytes,
        hand_over,
        reported: 0,
    };
    let session = Session::start_proxy(props, region, Box::new(outbound), None)?;
    KernelLogger::start_in(flags, share.kernel_tree_of, Arc::new(session))
}
