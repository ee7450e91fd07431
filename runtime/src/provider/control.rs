//! A session's controller calls on providers (EnableTrace, EnableTraceEx2 with filters, and
//! disabling): methods of [`Session`] that live here, beside the enable state they change, so
//! that `session` knows nothing of providers.

use crate::error::Result;
use crate::model::{EnableFilter, EnableSettings};
use crate::session::Session;
use crate::Guid;

impl Session {
    /// `EnableTrace`: the session wants events of provider `guid` that pass `settings`. Replaces
    /// earlier settings of this session; stored until the provider registers if it has not yet.
    pub fn enable_provider(&self, guid: Guid, settings: EnableSettings) -> Result<()> {
        super::enable_for_session(self.slot_for_enable()?, guid, settings)
    }

    /// [`Session::enable_provider`] with an enable filter (EnableTraceEx2's filter
    /// descriptors): a process the filter does not take is not enabled, and events whose ids it
    /// drops get no bit of this session in their enable words. Both are decided here, once.
    pub fn enable_provider_filtered(
        &self,
        guid: Guid,
        settings: EnableSettings,
        filter: &EnableFilter,
    ) -> Result<()> {
        self.enable_with(guid, settings, filter, true)
    }

    /// [`Session::enable_provider`] without telling the provider's enable callback (the Global
    /// Logger's way: providers learn of it by querying).
    pub(crate) fn enable_provider_quietly(
        &self,
        guid: Guid,
        settings: EnableSettings,
        filter: &EnableFilter,
    ) -> Result<()> {
        self.enable_with(guid, settings, filter, false)
    }

    /// An enable with a filter; `callbacks`: tell the provider's enable callback.
    fn enable_with(
        &self,
        guid: Guid,
        settings: EnableSettings,
        filter: &EnableFilter,
        callbacks: bool,
    ) -> Result<()> {
        let slot = self.slot_for_enable()?;
        super::enable_for_session_with(slot, guid, settings, filter, callbacks)
    }

    /// The session no longer wants events of provider `guid`.
    pub fn disable_provider(&self, guid: Guid) -> Result<()> {
        super::disable_for_session(self.slot_for_enable()?, guid);
        Ok(())
    }
}
